from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodloop.config import Guardrail
from prodloop.gateway.guardrails import (
    Guardrails,
    check_guardrails,
    find_pii,
    luhn_valid,
    prompt_text,
    requested_max_tokens,
)


def _luhn_digit(body: str) -> str:
    for check in "0123456789":
        if luhn_valid(body + check):
            return check
    raise AssertionError("unreachable")


def test_luhn_known_numbers() -> None:
    assert luhn_valid("4111111111111111")  # Visa test number
    assert luhn_valid("378282246310005")  # Amex test number
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("")


@given(st.text(alphabet="0123456789", min_size=12, max_size=18))
def test_exactly_one_check_digit_is_valid(body: str) -> None:
    valid = [d for d in "0123456789" if luhn_valid(body + d)]
    assert valid == [_luhn_digit(body)]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("write to jane.doe@example.com today", ["email"]),
        ("card 4111 1111 1111 1111 exp 12/29", ["card"]),
        ("card 4111-1111-1111-1111", ["card"]),
        ("order 4111111111111112 is not a card", []),
        ("call +1 415 555 0100 now", ["phone"]),
        ("call (415) 555-0100", ["phone"]),
        ("ring +44 20 7946 0958", ["phone"]),
        ("released 2024-01-15, version 3.11.7, 42 items", []),
        ("nothing personal here", []),
    ],
)
def test_find_pii(text: str, found: list[str]) -> None:
    assert find_pii(text, ("email", "card", "phone")) == found


def test_find_pii_only_looks_for_what_is_asked() -> None:
    assert find_pii("jane@example.com", ("card",)) == []


def test_prompt_text_from_every_api_shape() -> None:
    chat = {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hello"}, {"type": "image_url"}]},
        ]
    }
    assert prompt_text(chat) == "be brief\nhello"
    assert prompt_text({"prompt": ["a", "b"]}) == "a\nb"
    responses = {
        "instructions": "sys",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
    }
    assert prompt_text(responses) == "hi\nsys"
    assert prompt_text({"input": "plain"}) == "plain"
    assert prompt_text({"input": [1, 2, 3]}) == ""  # token ids are not text


def test_requested_max_tokens_under_each_name() -> None:
    assert requested_max_tokens({"max_tokens": 5}) == 5
    assert requested_max_tokens({"max_completion_tokens": 6}) == 6
    assert requested_max_tokens({"max_output_tokens": 7}) == 7
    assert requested_max_tokens({"max_tokens": True}) is None
    assert requested_max_tokens({}) is None


RULES = [
    Guardrail(name="long", kind="max_prompt_chars", limit=20, action="block"),
    Guardrail(name="tokens", kind="max_tokens", limit=100, action="block"),
    Guardrail(name="secret", kind="blocked_pattern", pattern=r"(?i)project\s+x", action="block"),
    Guardrail(name="pii", kind="pii", action="flag", detect=["email"]),
]


def _chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], **extra}


def test_each_kind_triggers_with_a_reason() -> None:
    assert check_guardrails(RULES, _chat("short")) == []
    (hit,) = check_guardrails(RULES, _chat("x" * 21))
    assert (hit.name, hit.action) == ("long", "block")
    assert "21 characters" in hit.reason and "20" in hit.reason
    (hit,) = check_guardrails(RULES, _chat("hi", max_tokens=101))
    assert hit.name == "tokens" and "101" in hit.reason
    (hit,) = check_guardrails(RULES, _chat("about Project  X"))
    assert hit.name == "secret"
    (hit,) = check_guardrails(RULES, _chat("a@b.io"))
    assert (hit.name, hit.action) == ("pii", "flag")
    assert "a@b.io" not in hit.reason  # the reason never quotes the user's text


def test_rules_restricted_to_services() -> None:
    rules = [
        Guardrail(name="only-a", kind="max_tokens", limit=1, action="block", services=["a"]),
        Guardrail(name="all", kind="max_tokens", limit=1, action="flag"),
    ]
    guardrails = Guardrails(rules, ["a", "b"])
    assert [h.name for h in guardrails.check("a", {"max_tokens": 2})] == ["only-a", "all"]
    assert [h.name for h in guardrails.check("b", {"max_tokens": 2})] == ["all"]
    assert guardrails.applies_to("b") and not Guardrails([], ["b"]).applies_to("b")


@pytest.mark.parametrize(
    "text",
    ["x" * 300_000, "a@" * 100_000, "1" * 300_000, "1 " * 150_000, "+1 " * 100_000, "a." * 150_000],
)
def test_pii_scan_stays_linear_on_huge_prompts(text: str) -> None:
    started = time.perf_counter()
    find_pii(text)
    assert time.perf_counter() - started < 1.0
