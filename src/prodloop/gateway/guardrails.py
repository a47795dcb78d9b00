"""Request-side guardrails: pure checks over the parsed request body.

Each rule from config either blocks (the gateway answers 400 and never calls the
upstream) or flags (the request passes and the trigger is recorded by name).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from prodloop.config import Guardrail

# Emails are found from each "@" outwards, in a bounded window: a regex scanning for the
# local part first backtracks quadratically on long prompts without an "@".
_EMAIL_LOCAL_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-"
)
_EMAIL_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_MAX_DOMAIN_CHARS = 255
# International (+CC …) or North American (555) 555-0100 shapes, not inside longer numbers.
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[ .-]?(?:\(?\d{1,4}\)?[ .-]?){2,5}\d{2,4}"
    r"|\(?\d{3}\)?[ .-]?\d{3}[ .-]?\d{4})(?![\w])"
)
# 13–19 digits, optionally grouped by spaces or dashes; confirmed by the Luhn checksum.
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")

_TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text"})


@dataclass(frozen=True, slots=True)
class GuardrailHit:
    """A rule that triggered, and why (the reason never quotes the user's text)."""

    name: str
    action: str  # "block" or "flag"
    reason: str


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum card numbers carry; `digits` holds only 0-9."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return len(digits) > 0 and total % 10 == 0


def find_pii(text: str, kinds: Iterable[str] = ("email", "phone", "card")) -> list[str]:
    """Which kinds of personal data `text` contains, in the order asked."""
    return [kind for kind in kinds if kind in _DETECTORS and _DETECTORS[kind](text)]


def _has_card(text: str) -> bool:
    for match in _CARD.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return True
    return False


def _has_phone(text: str) -> bool:
    for match in _PHONE.finditer(text):
        digits = sum(c.isdigit() for c in match.group())
        if 7 <= digits <= 15 and not (digits >= 13 and _has_card(match.group())):
            return True
    return False


def _has_email(text: str) -> bool:
    at = text.find("@")
    while at >= 0:
        has_local = at > 0 and text[at - 1] in _EMAIL_LOCAL_CHARS
        if has_local and _EMAIL_DOMAIN.match(text, at + 1, at + 1 + _MAX_DOMAIN_CHARS):
            return True
        at = text.find("@", at + 1)
    return False


_DETECTORS: dict[str, Callable[[str], bool]] = {
    "email": _has_email,
    "phone": _has_phone,
    "card": _has_card,
}


def _content_text(content: Any, out: list[str]) -> None:
    if isinstance(content, str):
        out.append(content)
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, dict):
                text = part.get("text")
                if isinstance(text, str) and part.get("type", "text") in _TEXT_PART_TYPES:
                    out.append(text)
                elif "content" in part:  # Responses API input items
                    _content_text(part.get("content"), out)


def prompt_text(payload: dict[str, Any]) -> str:
    """The text a request sends the model: messages, prompt, input and instructions."""
    parts: list[str] = []
    messages = payload.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                _content_text(message.get("content"), parts)
    for name in ("prompt", "input", "instructions", "system"):
        value = payload.get(name)
        if value is not None:
            _content_text(value, parts)
    return "\n".join(parts)


def requested_max_tokens(payload: dict[str, Any]) -> int | None:
    """The output token cap a request asks for, under any of its API names."""
    for name in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        value = payload.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


class _Rule:
    __slots__ = ("action", "detect", "kind", "limit", "name", "pattern")

    def __init__(self, rule: Guardrail) -> None:
        self.name = rule.name
        self.kind = rule.kind
        self.action = rule.action
        self.limit = rule.limit or 0
        self.pattern = re.compile(rule.pattern) if rule.pattern else None
        self.detect = tuple(rule.detect)

    def check(self, payload: dict[str, Any], text: str) -> str | None:
        if self.kind == "max_prompt_chars":
            if len(text) > self.limit:
                return f"the prompt has {len(text)} characters, over the limit of {self.limit}"
        elif self.kind == "max_tokens":
            asked = requested_max_tokens(payload)
            if asked is not None and asked > self.limit:
                return f"the request asks for {asked} output tokens, over the limit of {self.limit}"
        elif self.kind == "blocked_pattern":
            assert self.pattern is not None
            if self.pattern.search(text):
                return "the prompt matches a blocked pattern"
        elif self.kind == "pii":
            found = find_pii(text, self.detect)
            if found:
                return "the prompt contains personal data (" + ", ".join(found) + ")"
        return None


class Guardrails:
    """The configured rules compiled once, grouped by the service they apply to."""

    def __init__(self, rules: Sequence[Guardrail], services: Iterable[str]) -> None:
        compiled = [(_Rule(rule), frozenset(rule.services)) for rule in rules]
        self._by_service: dict[str, tuple[_Rule, ...]] = {
            name: tuple(r for r, only in compiled if not only or name in only) for name in services
        }

    def applies_to(self, service: str) -> bool:
        """Whether any rule covers `service` (so the body is worth inspecting)."""
        return bool(self._by_service.get(service))

    def check(self, service: str, payload: dict[str, Any]) -> list[GuardrailHit]:
        """Every rule for `service` that the request triggers, in config order."""
        rules = self._by_service.get(service, ())
        if not rules:
            return []
        needs_text = any(rule.kind != "max_tokens" for rule in rules)
        text = prompt_text(payload) if needs_text else ""
        hits: list[GuardrailHit] = []
        for rule in rules:
            reason = rule.check(payload, text)
            if reason is not None:
                hits.append(GuardrailHit(rule.name, rule.action, reason))
        return hits


def check_guardrails(rules: Sequence[Guardrail], payload: dict[str, Any]) -> list[GuardrailHit]:
    """Check one request body against `rules` (all of them, whatever their services)."""
    return Guardrails([r.model_copy(update={"services": []}) for r in rules], ["*"]).check(
        "*", payload
    )
