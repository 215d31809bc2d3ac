"""The door (issue 15): what a Slack request must pass before the bot runs it.

A forged or absurd signature is a 401 in one log line; a signed body of a shape
Slack does not send is a 400 (over HTTP) or acked and dropped (Socket Mode); a
request from someone the workspace does not have does nothing; and the same
signed request sent again does nothing again, on any replica, until its
signature is stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import inspect, select, table, text

from bot.config import Settings
from bot.handlers.slack.blocks import ids
from bot.sandbox.signing import Posted, sign
from bot.server import running
from store.db import make_engine, session_scope
from store.models import FlowSession, RequestReplay
from tests.slackenv import SECRET, TEACHER, SlackEnv, slack_env
from tests.test_caf_slack import (
    COORD,
    LEAD,
    episodes,
    modal,
    register_by_slash,
    settle,
    sweep,
    with_text,
)
from tests.test_slack_app import to_first_text_question
from tests.test_socket_mode import socket_mode_bot

LONDON = ZoneInfo("Europe/London")
TUESDAY = dt.datetime(2026, 11, 24, 10, 0, tzinfo=LONDON)
FORM = "application/x-www-form-urlencoded"


class Wall:
    """Real time as Slack and the bot read it, moved by the test (no sleeping)."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


def rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted: what "changed nothing" compares."""
    eng = make_engine(url)
    try:
        names = sorted(n for n in inspect(eng).get_table_names() if n != "alembic_version")
        with session_scope(eng) as s:
            return {n: sorted(map(tuple, s.execute(select(text("*")).select_from(table(n)))),
                              key=repr) for n in names}
    finally:
        eng.dispose()


async def raw_post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as r:
        return r.status, await r.text()


def signed(body: bytes, content_type: str = FORM, stamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if stamp is None else stamp
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": sign(SECRET, ts, body)}


# --- 5: a failure to verify is a 401 and one short line ------------------------------


async def test_an_absurd_timestamp_is_a_401_in_one_short_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with slack_env(f"sqlite:///{tmp_path / 'fd.db'}", start=TUESDAY) as env:
        body = b"command=%2Fconsult&user_id=U0TEACHER"
        before = rows(env.database_url)
        caplog.clear()
        for digits in (309, 500, 1000):
            stamp = "9" * digits
            status, _ = await raw_post(env.sender.events_url, body, {
                "Content-Type": FORM, "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": sign(SECRET, int(stamp), body)})
            assert status == 401
        for headers in ({"X-Slack-Request-Timestamp": "-1e400", "X-Slack-Signature": "v0=x"},
                        {"X-Slack-Request-Timestamp": "١٢٣", "X-Slack-Signature": ""}, {}):
            status, _ = await raw_post(env.sender.events_url, body,
                                       {"Content-Type": FORM, **headers})
            assert status == 401
        assert rows(env.database_url) == before
    lines = [r for r in caplog.records if r.name.startswith("aiohttp")
             or r.levelno >= logging.WARNING]
    assert len(lines) == 6 and all(r.name == "aiohttp.access" for r in lines), \
        [r.getMessage()[:200] for r in lines]
    assert all(r.exc_info is None and len(r.getMessage()) < 300 for r in lines)


# --- 6: a signed body of a shape Slack does not send is a 400 --------------------------


def _payload(p: Any) -> bytes:
    return urlencode({"payload": json.dumps(p)}).encode()


def _deep(n: int) -> str:
    """JSON text nested ``n`` objects deep (too deep for ``json.dumps`` to write)."""
    return '{"a":' * n + '"x"' + "}" * n


def _deep_payload(n: int) -> bytes:
    return urlencode({"payload": '{"type":"block_actions","user":{"id":"U0TEACHER"},'
                                 f'"actions":[{{"action_id":"flow.cancel"}}],"x":{_deep(n)}}}'
                      }).encode()


USER = {"id": TEACHER}
MALFORMED: dict[str, tuple[bytes, str]] = {
    "deep JSON": (_deep_payload(5000), FORM),
    "deep JSON, parsed": (_deep_payload(200), FORM),
    "deep JSON event": (f'{{"type":"event_callback","event":{_deep(3000)}}}'.encode(),
                        "application/json"),
    "actions a string": (_payload({"type": "block_actions", "user": USER,
                                   "actions": "flow.answer"}), FORM),
    "actions empty": (_payload({"type": "block_actions", "user": USER, "actions": []}), FORM),
    "an action a list": (_payload({"type": "block_actions", "user": USER,
                                   "actions": [["flow.cancel"]]}), FORM),
    "action_id a number": (_payload({"type": "block_actions", "user": USER,
                                     "actions": [{"action_id": 7}]}), FORM),
    "user a list": (_payload({"type": "block_actions", "user": [TEACHER],
                              "actions": [{"action_id": "flow.cancel"}]}), FORM),
    "no user": (_payload({"type": "block_actions",
                          "actions": [{"action_id": "flow.cancel"}]}), FORM),
    "view a list": (_payload({"type": "view_submission", "user": USER, "view": []}), FORM),
    "view without callback": (_payload({"type": "view_submission", "user": USER,
                                        "view": {"state": {"values": {}}}}), FORM),
    "state values a list": (_payload({"type": "view_submission", "user": USER, "view": {
        "callback_id": ids.MODAL_CAF_STUCK, "state": {"values": [1]}}}), FORM),
    "selected option a string": (_payload({"type": "view_submission", "user": USER, "view": {
        "callback_id": ids.MODAL_CAF_CLOSE, "private_metadata": "1:2026-12-22",
        "state": {"values": {"b": {"a": {"selected_option": "x"}}}}}}), FORM),
    "private_metadata a dict": (_payload({"type": "view_submission", "user": USER, "view": {
        "callback_id": ids.MODAL_CAF_STUCK, "private_metadata": {"id": 1}}}), FORM),
    "interactive_message without actions": (_payload({
        "type": "interactive_message", "user": USER, "callback_id": "x"}), FORM),
    "shortcut without callback": (_payload({"type": "shortcut", "user": USER}), FORM),
    "authorizations a dict": (json.dumps({
        "type": "event_callback", "authorizations": {"a": 1},
        "event": {"type": "message", "user": TEACHER, "text": "x"}}).encode(),
        "application/json"),
    "event a string": (json.dumps({"type": "event_callback", "event": "message"}).encode(),
                       "application/json"),
    "event text a list": (json.dumps({"type": "event_callback", "event_id": "Ev1", "event": {
        "type": "message", "channel_type": "im", "user": TEACHER, "text": ["x"]}}).encode(),
        "application/json"),
    "an unknown type": (_payload({"type": "no_such_type", "user": USER}), FORM),
    "no type": (json.dumps({"event": {"type": "message"}}).encode(), "application/json"),
    "a form of nothing Slack sends": (b"token=x&user_id=U0TEACHER", FORM),
    "a command without a user": (b"command=%2Fconsult&text=", FORM),
    "a command not a command": (b"command=consult&user_id=U0TEACHER", FORM),
}


async def test_a_signed_malformed_body_is_a_400_and_changes_nothing(tmp_path: Path) -> None:
    async with slack_env(f"sqlite:///{tmp_path / 'fd.db'}", start=TUESDAY) as env:
        await to_first_text_question(env, TEACHER)  # a flow the bodies could touch
        await env.drain()
        before, calls = rows(env.database_url), len(env.fake.calls)
        got = {name: (await raw_post(env.sender.events_url, body, signed(body, ctype)))[0]
               for name, (body, ctype) in MALFORMED.items()}
        assert got == dict.fromkeys(MALFORMED, 400)
        await env.drain()
        assert rows(env.database_url) == before
        assert len(env.fake.calls) == calls


async def test_a_well_formed_kind_the_bot_does_not_use_is_a_harmless_200(
    tmp_path: Path,
) -> None:
    unused = [
        _payload({"type": "shortcut", "user": USER, "callback_id": "x", "trigger_id": "1.2.3"}),
        _payload({"type": "message_action", "user": USER, "callback_id": "x",
                  "trigger_id": "1.2.3", "channel": {"id": "C1"}, "message": {"ts": "1.2"}}),
        _payload({"type": "view_closed", "user": USER,
                  "view": {"type": "modal", "callback_id": "x"}}),
        _payload({"type": "interactive_message", "user": USER, "callback_id": "x",
                  "actions": [{"name": "a"}]}),
        json.dumps({"type": "event_callback", "event_id": "Ev9",
                    "event": {"type": "reaction_added", "user": TEACHER}}).encode(),
        json.dumps({"type": "event_callback", "event_id": "Ev10",
                    "event": {"type": "user_change", "user": {"id": TEACHER}}}).encode(),
    ]
    async with slack_env(f"sqlite:///{tmp_path / 'fd.db'}", start=TUESDAY) as env:
        before, calls = rows(env.database_url), len(env.fake.calls)
        for body in unused:
            ctype = "application/json" if body.startswith(b"{") else FORM
            assert (await raw_post(env.sender.events_url, body, signed(body, ctype))) == (200, "")
        assert rows(env.database_url) == before
        assert len(env.fake.calls) == calls


# --- 8: someone the workspace does not have does nothing ------------------------------


async def test_requests_from_people_the_workspace_lacks_do_nothing(tmp_path: Path) -> None:
    async with slack_env(f"sqlite:///{tmp_path / 'fd.db'}", start=TUESDAY) as env:
        env.fake.add_user("U0GONE", "gone.person").deleted = True
        strangers = ["", "W123", "U0NOBODY", "U0GONE", env.fake.bot_user_id, "u0teacher"]
        before, calls = rows(env.database_url), len(env.fake.calls)
        for user in strangers * 2:  # the second time from memory, not users.info
            d = await env.sender.slash_command(user, "/consult", channel_id="D0STRANGER")
            assert d.status == 200
            assert d.body in ("", "Front Door takes requests only from people in this "
                                  "workspace.")
            d = await env.sender.block_action(user, ids.FLOW_CANCEL, channel_id="D0STRANGER",
                                              message_ts="1.000100")
            assert (d.status, d.body) == (200, "")
            d = await env.sender.event({"type": "message", "channel_type": "im", "user": user,
                                        "text": "a worry", "channel": "D0STRANGER",
                                        "ts": f"{time.time():.6f}"})
            assert d.status == 200
            d = await env.sender.event({"type": "app_home_opened", "user": user,
                                        "tab": "home", "channel": "D0STRANGER"})
            assert d.status == 200
        await env.drain()
        assert rows(env.database_url) == before  # no flow, no outbox row, no audit
        # Each id that looks like one was asked about once (then remembered); the rest
        # were refused by their shape without a call.
        looked_up = [c.args.get("user") for c in env.fake.calls[calls:]]
        assert sorted(looked_up) == sorted(["W123", "U0NOBODY", "U0GONE",
                                            env.fake.bot_user_id])
        assert {c.method for c in env.fake.calls[calls:]} == {"users.info"}
        await to_first_text_question(env, TEACHER)  # a person of the workspace gets through


# --- 4: the same signed request twice does nothing the second time ---------------------


@contextlib.asynccontextmanager
async def replica(env: SlackEnv, wall: Wall) -> AsyncIterator[str]:
    """A second ``frontdoor serve`` on the same database and workspace; its events URL."""
    settings = Settings(bot_token=env.bot.sv.settings.bot_token, signing_secret=SECRET,
                        api_url=env.fake.base_url, database_url=env.database_url, port=0)
    async with running(settings, policy=env.policy, reminders=False, host="127.0.0.1",
                       clock=env.clock, pace=0, http_mode=True, wall=wall) as bot:
        yield f"http://127.0.0.1:{bot.port}/slack/events"


async def _replayed_changes_nothing(env: SlackEnv, wall: Wall, posted: Posted,
                                    urls: list[str]) -> None:
    """Replay ``posted`` at +21 s and +42 s to every replica: a 200, and nothing changes."""
    await env.drain()
    before = rows(env.database_url)
    calls = [c.method for c in env.fake.calls if c.method != "users.info"]
    sent_at = wall.now
    for later in (21, 42):
        wall.now = sent_at + later
        for url in urls:
            d = await env.sender.resend(posted, url=url)
            assert (d.status, d.body) == (200, ""), (later, url, d.body)
    # Anything a replay had started would be queued by now: drain it, then compare.
    await env.drain()
    assert rows(env.database_url) == before
    assert [c.method for c in env.fake.calls if c.method != "users.info"] == calls
    wall.now = sent_at + 301  # past the signature's five minutes: stale
    for url in urls:
        assert (await env.sender.resend(posted, url=url)).status == 401
    wall.now = sent_at + 1


async def test_a_replayed_request_changes_nothing_on_any_replica(db_url: str) -> None:
    wall = Wall()
    async with slack_env(db_url, start=TUESDAY, wall=wall) as env, contextlib.AsyncExitStack() \
            as stack:
        urls = [env.sender.events_url]
        if not db_url.startswith("sqlite"):  # PostgreSQL: a second replica, one database
            urls.append(await stack.enter_async_context(replica(env, wall)))
        # A slash command (it starts a flow), then a click answering its first question.
        d = await env.sender.slash_command(TEACHER, "/consult", channel_id=env.dm_id(TEACHER))
        assert d.status == 200
        assert env.sender.last is not None
        command = env.sender.last
        await env.fake.wait_for("chat.postMessage")
        await env.drain()
        await _replayed_changes_nothing(env, wall, command, urls)
        before = len(env.dm(TEACHER))
        await env.answer(TEACHER)
        click = env.sender.last
        assert click is not None
        await settle(env, lambda: len(env.dm(TEACHER)) > before, "the next question")
        await _replayed_changes_nothing(env, wall, click, urls)

        # The case: a CAF's "Stuck" submission moved it one stage per replay.
        await register_by_slash(env)
        env.clock.now = dt.datetime(2026, 12, 23, 9, 0, tzinfo=LONDON)
        await sweep(env)
        (nudge,) = with_text(env, LEAD, "meeting is overdue")
        await env.click_card(LEAD, env.dm_id(LEAD), nudge["ts"], ids.CAF_STUCK)
        stuck_click = env.sender.last
        assert stuck_click is not None
        view = await modal(env, ids.MODAL_CAF_STUCK)
        await _replayed_changes_nothing(env, wall, stuck_click, urls)  # no second modal
        d = await env.sender.view_submission(
            LEAD, view, {ids.IN_CAF_NOTE[1]: "A parent has not come to the last two meetings."})
        assert (d.status, d.body) == (200, "")
        submission = env.sender.last
        assert submission is not None
        await settle(env, lambda: episodes(db_url)[0].stuck_stage == "coordinator",
                     "the co-ordinator was asked")
        asked = len(with_text(env, COORD, "asks the"))
        assert asked == 1
        await _replayed_changes_nothing(env, wall, submission, urls)
        assert episodes(db_url)[0].stuck_stage == "coordinator"
        assert len(with_text(env, COORD, "asks the")) == asked


async def test_replay_keys_are_kept_past_the_window_then_purged(tmp_path: Path) -> None:
    wall = Wall()
    async with slack_env(f"sqlite:///{tmp_path / 'fd.db'}", start=TUESDAY, wall=wall) as env:
        d = await env.sender.slash_command(TEACHER, "/consult", channel_id=env.dm_id(TEACHER))
        assert d.status == 200
        await env.drain()
        eng = env.bot.sv.engine

        def keys() -> list[RequestReplay]:
            with session_scope(eng) as s:
                return list(s.exec(select(RequestReplay)).scalars())  # type: ignore[call-overload]

        (kept,) = keys()
        assert kept.once_key.startswith("sig:v0=")
        await sweep(env)  # real time has not moved: kept
        assert len(keys()) == 1
        with session_scope(eng, write=True) as s:  # as if taken 16 minutes ago
            s.execute(text("UPDATE request_replay SET received_at = :at"),
                      {"at": (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16))
                       .replace(tzinfo=None).isoformat(" ")})
        await sweep(env)
        assert keys() == []
        with session_scope(eng) as s:
            assert s.exec(select(FlowSession)).scalars().one()  # type: ignore[call-overload]


# --- Socket Mode: the same door ----------------------------------------------------------


async def test_socket_mode_acks_and_drops_what_the_door_refuses(tmp_path: Path) -> None:
    async with socket_mode_bot(tmp_path) as (sock, fake, bot):
        command = {"team_id": "T0FRONT", "channel_id": fake.dm_channel(TEACHER),
                   "user_id": TEACHER, "command": "/consult", "text": "",
                   "trigger_id": "1.2.abc"}
        bad = [
            {"type": "interactive", "payload": {"type": "block_actions", "user": USER,
                                                "actions": "flow.cancel"}},
            {"type": "interactive", "payload": {"type": "view_submission", "user": USER,
                                                "view": []}},
            {"type": "events_api", "payload": {"type": "event_callback", "event": "x"}},
            {"type": "interactive", "payload": {"type": "block_actions", "user": USER,
                                                "x": json.loads(_deep(200))}},
            {"type": "slash_commands", "payload": {**command, "user_id": "U0NOBODY"}},
            {"type": "interactive", "payload": {"type": "shortcut", "user": USER,
                                                "callback_id": "x"}},
        ]
        for n, envelope in enumerate(bad):
            await sock.send({"envelope_id": f"bad-{n}", **envelope})
            ack = await asyncio.wait_for(sock.acks.get(), timeout=10)
            assert ack["envelope_id"] == f"bad-{n}"
        for attempt in ("env-1", "env-1"):  # Slack sending the same envelope again
            await sock.send({"envelope_id": attempt, "type": "slash_commands",
                             "accepts_response_payload": True, "payload": command})
            ack = await asyncio.wait_for(sock.acks.get(), timeout=10)
            assert ack["envelope_id"] == "env-1"
        await fake.wait_for("chat.postMessage", timeout=10)
        (flow,) = rows(str(bot.sv.engine.url))["flow_session"]  # one flow...
        assert TEACHER in flow  # ... for the person only
        assert not fake.calls_to("chat.postEphemeral")  # the replay said nothing
