"""``GET /metrics`` after a short load of signed requests: the counters say what was sent.

A professional plays a whole ``/consult`` flow, a second one starts a flow whose first
question meets a 500 and then a 429 from Slack, and a forged request is refused. The
scrape's request counters match what the test sent (by kind and status), the delivery
counters match the calls the fake Web API answered, and no label carries anything
typed, a user id or a channel id: only the bounded values the metrics allow.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from bot import intents
from bot.handlers.slack import render
from bot.metrics import KINDS, RESULTS
from store.db import session_scope
from store.models import OutboxMessage
from tests.slackenv import HEALTH, TEACHER, SlackEnv, slack_env
from tests.test_slack_app import TUESDAY, play

WAIT = 20.0


def _kind(body: str) -> str:
    """The test's own reading of what it sent (not the bot's ``request_kind``)."""
    if body.startswith("payload="):
        payload = json.loads(parse_qs(body)["payload"][0])
        return {"block_actions": "action", "view_submission": "view",
                "view_closed": "view", "block_suggestion": "options"}[payload["type"]]
    if body.startswith("{"):
        return "event"
    assert "command" in parse_qs(body), body[:40]
    return "command"


class Sent:
    """Every signed request the test's Slack sends, by kind and the status it got."""

    def __init__(self, env: SlackEnv) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        post = env.sender.post

        async def counted(body: str, content_type: str, **kwargs: Any) -> Any:
            delivery = await post(body, content_type, **kwargs)
            kind = "unknown" if kwargs.get("forged") else _kind(body)
            self.counts[(kind, str(delivery.status))] += 1
            return delivery

        env.sender.post = counted  # type: ignore[method-assign]


async def _scrape(env: SlackEnv) -> dict[str, list[tuple[dict[str, str], float]]]:
    url = f"http://127.0.0.1:{env.bot.port}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        text = await r.text()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, []).append((dict(s.labels), s.value))
    return samples


def _value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str,
           **labels: str) -> float:
    return sum(v for lab, v in samples.get(name, []) if all(lab.get(k) == x
                                                            for k, x in labels.items()))


async def _delivered_after_faults(env: SlackEnv, before: int) -> None:
    """Sweep as of later (past the retry's backoff) until Slack took the faulted message."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while len([c for c in env.fake.calls_to("chat.postMessage") if c.ok]) <= before:
        assert asyncio.get_running_loop().time() < deadline, "the retried message never went"
        await env.bot.sv.sender.run_once(now=datetime.now(UTC) + timedelta(minutes=10))
        await asyncio.sleep(0.005)  # the bot's own sender may hold the row this moment
    await env.drain()


async def test_metrics_count_requests_and_deliveries_without_user_labels(
        tmp_path: Any) -> None:
    async with slack_env(f"sqlite:///{tmp_path / 'fd.db'}", start=TUESDAY) as env:
        sent = Sent(env)
        d = await env.sender.slash_command(TEACHER, "/consult", channel_id=env.dm_id(TEACHER))
        assert d.status == 200
        await env.fake.wait_for("chat.postMessage")
        await play(env, TEACHER)
        # A second professional's first question meets a 500, then a 429.
        posted = len([c for c in env.fake.calls_to("chat.postMessage") if c.ok])
        env.fake.fail("chat.postMessage", status=500)
        env.fake.fail("chat.postMessage", status=429, retry_after=1)
        d = await env.sender.slash_command(HEALTH, "/consult", channel_id=env.dm_id(HEALTH))
        assert d.status == 200
        await _delivered_after_faults(env, posted)
        forged = await env.sender.slash_command(TEACHER, "/consult", forged=True)
        assert forged.status == 401
        samples = await _scrape(env)

        # Requests: exactly what the test sent, by kind and status; each timed.
        assert sum(sent.counts.values()) > 10, sent.counts
        got = {(lab["kind"], lab["status"]): v
               for lab, v in samples["frontdoor_slack_requests_total"]}
        assert got == {k: float(n) for k, n in sent.counts.items()}, (got, sent.counts)
        for kind in {k for k, _ in sent.counts}:
            n = sum(c for (k, _), c in sent.counts.items() if k == kind)
            assert _value(samples, "frontdoor_slack_ack_duration_seconds_count",
                          kind=kind) == n

        # Deliveries: as many as the fake answered, by result.
        with session_scope(env.bot.sv.engine) as s:
            queued = list(s.exec(select(OutboxMessage)).scalars())  # type: ignore[call-overload]
        sent_as = {intents.POST: render.POST, intents.UPDATE: render.UPDATE,
                   intents.FILE: render.UPLOAD}
        methods = {sent_as[intents.kind(intents.intent_of(r))] for r in queued}
        calls = [c for c in env.fake.calls if c.method in methods]
        results = {lab["result"]: v for lab, v in samples["frontdoor_outbox_deliveries_total"]}
        assert results == {
            "sent": sum(1 for c in calls if c.ok), "retried": sum(c.fault == "500" for c in calls),
            "ratelimited": sum(c.fault == "429" for c in calls), "dead": 0, "recovered": 0,
        }, (results, Counter((c.method, c.fault, c.ok) for c in calls))
        assert results["retried"] == results["ratelimited"] == 1

        # The database's gauges, read at the scrape: everything was delivered.
        assert _value(samples, "frontdoor_database_up") == 1
        assert _value(samples, "frontdoor_outbox_undelivered_messages") == 0
        assert _value(samples, "frontdoor_outbox_oldest_undelivered_age_seconds") == 0
        assert "frontdoor_reminders_due" in samples and "frontdoor_reminders_overdue" in samples
        assert _value(samples, "frontdoor_db_transaction_duration_seconds_count") > 0

        # No label carries anything but the bounded values the metrics allow.
        typed = [t for t in env.sender.typed if t]  # type: ignore[attr-defined]
        allowed = {"kind": set(KINDS), "result": set(RESULTS), "path": {"loop", "thread", "orm"}}
        for name, rows in samples.items():
            for labels, _ in rows:
                for key, value in labels.items():
                    assert not any(value and value in t for t in typed), (name, key, value)
                    assert not value.startswith(("U0", "D", "C0")), (name, key, value)
                    if key == "status":
                        assert value.isdigit(), (name, value)
                    elif key == "le":
                        float(value)
                    else:
                        assert key in allowed, (name, key)
                        assert value in allowed[key], (name, key, value)
