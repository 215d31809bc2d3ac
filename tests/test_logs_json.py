"""``FRONTDOOR_LOG_FORMAT=json``: one JSON object a line, with the request's id or the card's
reference, and never anything a professional typed.

The bot's JSON formatter is put on the root logger while a professional plays a whole
``/consult`` flow over signed requests (with the bot's per-request DEBUG line on), types
a sentence naming a fictional child, and a forged request is refused; then an SLA
breach is swept on a card, and an exception carrying typed words is logged.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from bot.logs import JsonFormatter
from bot.services import Services
from store.db import session_scope
from store.models import TriageCard
from tests.slackenv import TEACHER, Clock, slack_env
from tests.test_reminders import at, new_card, services, sweep  # noqa: F401 - a fixture
from tests.test_slack_app import TUESDAY, play

NAMING = "Tamsin Oakridge, 7, at 14 Harrow Lane has bruises again"  # fictional


class JsonLines:
    """What the root logger writes through the bot's JSON formatter, line by line."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(JsonFormatter())

    def lines(self) -> list[dict[str, Any]]:
        text = self.stream.getvalue()
        assert text.endswith("\n") and "\n\n" not in text
        return [json.loads(line) for line in text.splitlines()]  # every line parses

    @property
    def text(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def json_log() -> Iterator[JsonLines]:
    out = JsonLines()
    root, ours = logging.getLogger(), logging.getLogger("frontdoor")
    level = ours.level
    root.addHandler(out.handler)
    ours.setLevel(logging.DEBUG)  # the per-request line is DEBUG
    try:
        yield out
    finally:
        root.removeHandler(out.handler)
        ours.setLevel(level)


def _fields(line: dict[str, Any]) -> None:
    assert {"timestamp", "level", "logger", "message"} <= set(line), line
    stamp = datetime.fromisoformat(line["timestamp"])
    assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0, line
    assert line["level"] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), line


async def test_json_lines_carry_request_ids_and_nothing_typed(
        tmp_path: Any, json_log: JsonLines) -> None:
    async with slack_env(f"sqlite:///{tmp_path / 'fd.db'}", start=TUESDAY) as env:
        d = await env.sender.slash_command(TEACHER, "/consult", channel_id=env.dm_id(TEACHER))
        assert d.status == 200
        await env.fake.wait_for("chat.postMessage")
        await play(env, TEACHER)
        await env.sender.message_im(TEACHER, env.dm_id(TEACHER), NAMING)
        forged = await env.sender.slash_command(TEACHER, "/consult", text=NAMING, forged=True)
        assert forged.status == 401
        await env.drain()
        typed = [t for t in env.sender.typed if len(t) >= 4]  # type: ignore[attr-defined]

    lines = json_log.lines()
    for line in lines:
        _fields(line)
    answered = [line for line in lines if line["logger"] == "frontdoor.server"
                and " request answered " in line["message"]]
    assert len(answered) >= 12, [line["message"] for line in lines][:20]
    ids = [line.get("request_id", "") for line in answered]
    assert all(re.fullmatch(r"[0-9a-f]{16}", i) for i in ids), ids
    assert len(set(ids)) == len(ids), "two requests shared an id"
    assert any(line["message"].startswith("unknown request answered 401") for line in answered)
    assert typed and NAMING in typed
    for text in typed:
        assert text not in json_log.text, f"typed text in the log: {text!r}"
    for word in ("Tamsin", "Oakridge", "Harrow"):
        assert word not in json_log.text


async def test_json_lines_name_the_card_and_never_an_exceptions_text(
        services: tuple[Services, Clock], json_log: JsonLines) -> None:  # noqa: F811
    sv, _ = services
    card_id = new_card(sv, at(2026, 12, 18, 15, 0))
    with session_scope(sv.engine) as s:
        card = s.get(TriageCard, card_id)
        assert card is not None
        reference = card.reference
    sweep(sv, at(2026, 12, 21, 15, 0))  # the decision clock's breach
    try:
        raise ValueError(NAMING)
    except ValueError:
        logging.getLogger("frontdoor.test").exception("a listener failed")

    lines = json_log.lines()
    for line in lines:
        _fields(line)
    breach = [line for line in lines if line["message"].startswith("SLA breach announced")]
    assert len(breach) == 1 and breach[0]["card"] == reference, lines
    assert breach[0]["logger"] == "frontdoor.reminders"
    failed = [line for line in lines if line["message"] == "a listener failed"]
    assert failed[0]["exception"] == "ValueError" and failed[0]["frames"], failed
    assert "card" not in failed[0], "the card of an earlier sweep stuck to a later line"
    assert "Tamsin" not in json_log.text and "Harrow" not in json_log.text
    # The breach is counted by clock, a name from the policy.
    assert sv.metrics.breaches.labels("contact_decision")._value.get() == 1
