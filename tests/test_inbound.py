"""``bot.handlers.slack.inbound.decode`` gives every listener the body Bolt's own decoding gives."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.handlers.slack import inbound

FORM = {"content-type": "application/x-www-form-urlencoded"}


def bolt(text: str) -> Any:
    """What Bolt's aiohttp adapter makes of ``text``: the body, or the exception type."""
    try:
        return AsyncBoltRequest(body=text, query="", headers=FORM).body  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - compared, not swallowed
        return type(exc)


def ours(text: str) -> Any:
    try:
        return inbound.decode(text.encode(), None, FORM).body
    except Exception as exc:  # noqa: BLE001
        return type(exc)


def test_a_click_payload_decodes_to_bolts_body() -> None:
    payload = {"type": "block_actions", "user": {"id": "U0TEST0001"},
               "actions": [{"action_id": "answer", "value": "a+b & <c> 100% é 😀"}],
               "message": {"blocks": [{"type": "section", "text": {"type": "mrkdwn",
                                                                   "text": "x=1;y"}}]}}
    text = "payload=" + quote_plus(json.dumps(payload, ensure_ascii=False))
    req = inbound.decode(text.encode(), None, FORM)
    assert req.body == payload == bolt(text)
    assert req.context.user_id == "U0TEST0001"  # Bolt's context is built from it
    # An HTTP request, as Bolt's adapter makes it (it is handed over parsed).
    assert req.mode == "http" and json.loads(req.raw_body) == payload


@pytest.mark.parametrize("text", [
    "payload=", "payload=%ZZ%7B", "payload=%E9%7B", "payload=%", "payload=[1]",
    "payload=%5B1%5D", "payload=%7B%22a%22%3A", "payload=+%7B%7D", "payload=%7B%7D&x=1",
    "payload=%7B%22a%22%3A1%7D&payload=%7B%22a%22%3A2%7D", "command=%2Frefer&text=a+b",
    "token=x&payload=%7B%7D", '{"type": "event_callback"}', "",
])
def test_odd_bodies_decode_as_bolt_decodes_them(text: str) -> None:
    assert ours(text) == bolt(text)


@settings(max_examples=300, deadline=None)
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(), kids, max_size=4),
    max_leaves=12,
), st.booleans())
def test_any_json_payload_decodes_as_bolt_decodes_it(value: Any, plus: bool) -> None:
    encoded = (quote_plus if plus else quote)(json.dumps({"v": value}, ensure_ascii=False))
    text = "payload=" + encoded
    assert ours(text) == bolt(text) == {"v": value}


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('%+&=;#?{}[]":,0123456789abcdefABCDEF é\x00')),
               max_size=40))
def test_any_form_text_decodes_as_bolt_decodes_it(tail: str) -> None:
    for text in ("payload=" + tail, "payload=%7B" + tail, tail):
        assert ours(text) == bolt(text)


def test_an_unknown_charset_or_bad_bytes_is_refused_not_crashed() -> None:
    with pytest.raises(LookupError):
        inbound.decode(b"payload=%7B%7D", "no-such-charset", FORM)
    with pytest.raises(UnicodeDecodeError):
        inbound.decode(b"payload=\xff", None, FORM)
