"""Answers in OpenAI's shapes, for the fake upstream: complete enough for the `openai` SDK.

Chat Completions, Completions, Embeddings, the Responses API and the model list, with
their streamed forms ending the way OpenAI's do (a usage-only chunk only when asked).
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

# --- answers in OpenAI's shapes --------------------------------------------------------

_WORDS = ("the", "canary", "stays", "within", "its", "error", "budget", "so", "we", "ship")


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    def chat(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": self.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def responses(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": self.cached},
            "output_tokens": self.output_tokens,
            "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
            "total_tokens": self.input_tokens + self.output_tokens,
        }

    @property
    def cached(self) -> int:
        return min(self.cached_tokens, self.input_tokens)


def count_tokens(text: object) -> int:
    """About one token per four characters, as tokenizers average on English."""
    if isinstance(text, list):
        return sum(count_tokens(item) for item in text)
    return max(1, len(str(text)) // 4) if text else 0


def prompt_tokens(request: dict[str, Any]) -> int:
    messages = request.get("messages")
    texts: list[object] = []
    if isinstance(messages, list):
        texts.extend(m.get("content") for m in messages if isinstance(m, dict))
    texts.extend(request.get(name) for name in ("prompt", "input", "instructions"))
    return max(1, sum(count_tokens(t) for t in texts if t))


def pieces(tokens: int, chunks: int) -> list[str]:
    """The answer's words, one per token, grouped into `chunks` stream pieces."""
    words = [(" " if i else "") + _WORDS[i % len(_WORDS)] for i in range(max(1, tokens))]
    chunks = max(1, min(chunks, len(words)))
    size = math.ceil(len(words) / chunks)
    return ["".join(words[i : i + size]) for i in range(0, len(words), size)]


def _id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


def chat(model: str, text: str, usage: Usage) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": text,
        "refusal": None,
        "annotations": [],
    }
    return {
        "id": _id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
        "usage": usage.chat(),
        "system_fingerprint": "fp_prodloop_fake",
    }


def completion(model: str, text: str, usage: Usage) -> dict[str, Any]:
    return {
        "id": _id("cmpl-"),
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}],
        "usage": {k: v for k, v in usage.chat().items() if k != "completion_tokens_details"},
    }


def response(
    model: str, text: str, usage: Usage | None, *, rid: str = "", status: str = "completed"
) -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    item = {
        "type": "message",
        "id": "msg_" + rid[5:],
        "status": status,
        "role": "assistant",
        "content": content,
    }
    return {
        "id": rid or _id("resp_"),
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": model,
        "output": [item] if text else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "temperature": 1.0,
        "top_p": 1.0,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
        "text": {"format": {"type": "text"}},
        "usage": usage.responses() if usage is not None else None,
    }


def embeddings(model: str, data: list[dict[str, Any]], tokens: int) -> dict[str, Any]:
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": model, "usage": usage}


def model_card(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 1_700_000_000, "owned_by": "prodloop-fake"}


def model_list(name: str) -> dict[str, Any]:
    names = dict.fromkeys((name, "gpt-4o-mini", "text-embedding-3-small"))
    return {"object": "list", "data": [model_card(n) for n in names]}


def _sse(payload: dict[str, Any], event: str | None = None) -> bytes:
    head = b"event: " + event.encode() + b"\n" if event else b""
    return head + b"data: " + orjson.dumps(payload) + b"\n\n"


def stream_events(
    kind: str, model: str, parts: list[str], usage: Usage, *, include_usage: bool
) -> list[tuple[bool, bytes]]:
    """A streamed answer as (is content, SSE bytes) events, ending like OpenAI's do."""
    if kind == "responses":
        return _response_events(model, parts, usage)
    created = int(time.time())
    if kind == "chat":
        base: dict[str, Any] = {"id": _id("chatcmpl-"), "object": "chat.completion.chunk"}
    else:
        base = {"id": _id("cmpl-"), "object": "text_completion"}
    base |= {"created": created, "model": model, "system_fingerprint": "fp_prodloop_fake"}
    if include_usage:
        base["usage"] = None  # OpenAI sends a null usage on every chunk when asked for it

    def chunk(choice: dict[str, Any]) -> bytes:
        return _sse({**base, "choices": [choice]})

    events: list[tuple[bool, bytes]] = []
    if kind == "chat":
        delta: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
        events.append(
            (False, chunk({"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}))
        )
        for part in parts:
            choice = {
                "index": 0,
                "delta": {"content": part},
                "logprobs": None,
                "finish_reason": None,
            }
            events.append((True, chunk(choice)))
        events.append(
            (False, chunk({"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}))
        )
    else:
        for part in parts:
            choice = {"index": 0, "text": part, "logprobs": None, "finish_reason": None}
            events.append((True, chunk(choice)))
        events.append(
            (False, chunk({"index": 0, "text": "", "logprobs": None, "finish_reason": "stop"}))
        )
    if include_usage:
        final = {**base, "choices": [], "usage": usage.chat()}
        events.append((False, _sse(final)))
    events.append((False, b"data: [DONE]\n\n"))
    return events


def _response_events(model: str, parts: list[str], usage: Usage) -> list[tuple[bool, bytes]]:
    rid = _id("resp_")
    item_id = "msg_" + rid[5:]
    text = "".join(parts)
    seq = iter(range(1_000_000))

    def event(kind: str, **fields: Any) -> bytes:
        return _sse({"type": kind, "sequence_number": next(seq), **fields}, kind)

    started = response(model, "", None, rid=rid, status="in_progress")
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    item = {
        "type": "message",
        "id": item_id,
        "status": "in_progress",
        "role": "assistant",
        "content": [],
    }
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    done = response(model, text, usage, rid=rid)
    events = [
        (False, event("response.created", response=started)),
        (False, event("response.in_progress", response=started)),
        (False, event("response.output_item.added", output_index=0, item=item)),
        (False, event("response.content_part.added", part=part, **where)),
    ]
    for piece in parts:
        events.append(
            (True, event("response.output_text.delta", delta=piece, logprobs=[], **where))
        )
    events += [
        (False, event("response.output_text.done", text=text, logprobs=[], **where)),
        (False, event("response.content_part.done", part={**part, "text": text}, **where)),
        (False, event("response.output_item.done", output_index=0, item=done["output"][0])),
        (False, event("response.completed", response=done)),
    ]
    return events
