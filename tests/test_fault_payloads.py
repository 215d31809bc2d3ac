"""Faults at the edge: a locked database, and random, malformed, oversized or forged requests.

The bot answers a person plainly ("try again") and never with a 500 or a half-written row.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import http.client
import json
import logging
import os
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.handlers.slack.common import BUSY
from bot.sandbox.signing import sign
from store.db import make_engine, session_scope
from store.models import Consultation, FlowSession, Referral, TriageCard
from tests.slackenv import SECRET, TEACHER, SlackEnv, slack_env
from tests.test_slack_app import _mark, _settle, to_first_text_question

LONDON = ZoneInfo("Europe/London")
TUESDAY = dt.datetime(2026, 11, 24, 10, 0, tzinfo=LONDON)
pytestmark = pytest.mark.fault


async def test_locked_database_says_try_again_and_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "fd.db"
    async with slack_env(f"sqlite:///{path}?timeout=0.3", start=TUESDAY) as env:
        question = await to_first_text_question(env, TEACHER)
        blocker = sqlite3.connect(path, timeout=0)
        blocker.execute("BEGIN EXCLUSIVE")  # another process holds the database
        try:
            d = await env.sender.message_im(TEACHER, env.dm_id(TEACHER), "Missed meals.")
            assert d.status == 200
            told = await env.fake.wait_for("chat.postEphemeral", timeout=10)
            assert told[-1].args["text"] == BUSY  # plain words, no stack trace
        finally:
            blocker.rollback()
            blocker.close()
        assert env.last_question(TEACHER)["ts"] == question["ts"]  # still on that question
        before = _mark(env, TEACHER)
        await env.sender.message_im(TEACHER, env.dm_id(TEACHER), "Missed meals.")
        await _settle(env, TEACHER, before)
        assert env.last_question(TEACHER)["ts"] != question["ts"]  # the retry was accepted


async def test_a_lone_surrogate_in_an_answer_is_saved_and_the_flow_goes_on(
    tmp_path: Path,
) -> None:
    # JSON can carry half a UTF-16 pair ("\\ud800"); Python decodes it, orjson will
    # not encode it: the standard library writes it, as it always did.
    async with slack_env(f"sqlite:///{tmp_path / 'fd.db'}", start=TUESDAY) as env:
        question = await to_first_text_question(env, TEACHER)
        before = _mark(env, TEACHER)
        d = await env.sender.message_im(TEACHER, env.dm_id(TEACHER), "Missed meals \ud800.")
        assert d.status == 200
        await _settle(env, TEACHER, before)
        assert env.last_question(TEACHER)["ts"] != question["ts"]  # accepted, asked on
        assert not env.fake.calls_to("chat.postEphemeral")  # no "something went wrong"
    eng = make_engine(f"sqlite:///{tmp_path / 'fd.db'}")
    try:
        with session_scope(eng) as s:
            flow = s.exec(select(FlowSession)).scalars().one()  # type: ignore[call-overload]
        assert "Missed meals \ud800." in flow.answers.values()
    finally:
        eng.dispose()


# --- random requests against a real server, from hypothesis --------------------------


class Server:
    """The fake Web API and the bot (``slack_env``), on their own event loop in a thread."""

    def __init__(self, db: str) -> None:
        self.db = db
        self.url = ""
        self.env: SlackEnv | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Server:
        self._thread.start()
        assert self._ready.wait(30), "the bot did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        kept = _kept.pop(urllib.parse.urlsplit(self.url).netloc, None)
        if kept is not None:
            kept.close()

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with slack_env(self.db, start=TUESDAY) as env:
            self.env = env
            self.url = env.sender.events_url
            self._ready.set()
            await self._stop.wait()

    def settle(self) -> None:
        """Wait until the bot has finished what earlier requests started (their listeners
        run after the ack) and recorded what those sent."""
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(self._settle(), self._loop).result(30)

    async def _settle(self) -> None:
        assert self.env is not None
        for _ in range(1000):
            listeners = [t for t in asyncio.all_tasks() if not t.done()
                         and "slack_bolt" in t.get_coro().cr_code.co_filename]  # type: ignore[union-attr]
            if not listeners:
                await self.env.bot.sv.sender.flush()
                return
            await asyncio.wait(listeners, timeout=10)
        raise AssertionError("the listeners did not finish")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    db = f"sqlite:///{tmp_path_factory.mktemp('fault') / 'fd.db'}"
    with Server(db) as srv:
        yield srv


_kept: dict[str, http.client.HTTPConnection] = {}  # one kept-alive connection per server


def post(url: str, body: bytes, content_type: str, *, forged: bool = False,
         ts: int | None = None, headers: dict[str, str] | None = None) -> int:
    """POST ``body`` signed (or forged) at ``ts``; the status. The connection is kept
    open between requests, as Slack's is: thousands of requests in a test stay quick."""
    stamp = ts if ts is not None else int(time.time())
    signature = sign("not-the-secret" if forged else SECRET, stamp, body)
    where = urllib.parse.urlsplit(url)
    for attempt in (1, 2):
        cx = _kept.get(where.netloc) or http.client.HTTPConnection(where.netloc, timeout=10)
        _kept[where.netloc] = cx
        try:
            cx.request("POST", where.path, body=body, headers={
                "Content-Type": content_type, "X-Slack-Request-Timestamp": str(stamp),
                "X-Slack-Signature": signature, **(headers or {})})
            resp = cx.getresponse()
            resp.read()
            if resp.getheader("Connection", "").lower() == "close":
                cx.close()
            return resp.status
        except (http.client.RemoteDisconnected, ConnectionError):
            cx.close()  # the server closed the kept connection: a new one, once
            del _kept[where.netloc]
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def counts(db: str) -> tuple[int, ...]:
    eng = make_engine(db)
    try:
        with session_scope(eng) as s:
            return tuple(int(s.exec(select(func.count()).select_from(m)).scalar_one())  # type: ignore[call-overload]
                         for m in (Consultation, Referral, TriageCard))
    finally:
        eng.dispose()


text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)
odd = st.one_of(text, st.just("\u202e\u200b<!channel>&<@U0MANAGER>"), st.just("x" * 60_000),
                st.integers().map(str), st.just(""))
junk = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), text),
                    lambda inner: st.one_of(st.lists(inner, max_size=4),
                                            st.dictionaries(text, inner, max_size=4)),
                    max_leaves=12)
ACTION_IDS = ["flow.answer", "flow.answer:0", "flow.back", "flow.cancel", "flow.multi_done",
              "card.approve", "card.change", "card.close", "card.snooze", "consult.advise",
              "advice.followed", "info.reply", "nonsense"]
COMMANDS = ["/consult", "/refer", "/caf", "/caflog", "/unknown"]
SLOW = settings(max_examples=int(os.environ.get("FAULT_EXAMPLES", "40")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@SLOW
@given(command=st.sampled_from(COMMANDS), user=odd, value=odd, extra=st.dictionaries(text, odd))
def test_random_slash_commands(server: Server, command: str, user: str, value: str,
                               extra: dict[str, str]) -> None:
    fields = {**extra, "command": command, "user_id": user, "text": value, "team_id": "T0FRONT",
              "channel_id": "D0TEACHER", "trigger_id": "1.2.x"}
    body = urllib.parse.urlencode(fields).encode()
    assert post(server.url, body, "application/x-www-form-urlencoded") < 500


@SLOW
@given(action=st.sampled_from(ACTION_IDS), value=odd, block=odd, payload_extra=junk,
       user=st.sampled_from([TEACHER, "U0MANAGER", "U0NOBODY", ""]))
def test_random_block_actions(server: Server, action: str, value: str, block: str,
                              payload_extra: object, user: str) -> None:
    payload = {"type": "block_actions", "user": {"id": user}, "team": {"id": "T0FRONT"},
               "trigger_id": "1.2.x", "channel": {"id": "C0MASHMGR"},
               "container": {"type": "message"}, "extra": payload_extra,
               "actions": [{"action_id": action, "block_id": block, "value": value,
                            "type": "button"}]}
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    before = counts(server.db)
    assert post(server.url, body, "application/x-www-form-urlencoded") < 500
    assert counts(server.db) == before  # a click can change a card, never create rows


@SLOW
@given(event=junk, event_id=odd, text_=odd)
def test_random_events(server: Server, event: object, event_id: str, text_: str) -> None:
    envelope = {"type": "event_callback", "team_id": "T0FRONT", "event_id": event_id,
                "event": event if isinstance(event, dict) else {
                    "type": "message", "channel_type": "im", "user": TEACHER, "text": text_,
                    "channel": "D0TEACHER"}}
    body = json.dumps(envelope).encode()
    assert post(server.url, body, "application/json") < 500


@SLOW
@given(body=st.binary(max_size=2000), content_type=st.sampled_from(
    ["application/json", "application/x-www-form-urlencoded", "text/plain"]))
def test_random_bytes(server: Server, body: bytes, content_type: str) -> None:
    assert post(server.url, body, content_type) < 500


@SLOW
@given(body=st.binary(max_size=500), skew=st.integers(min_value=301, max_value=10**6),
       forged=st.booleans())
def test_forged_or_stale_signatures_are_401(server: Server, body: bytes, skew: int,
                                             forged: bool) -> None:
    before = counts(server.db)
    stamp = int(time.time()) - (0 if forged else skew)
    status = post(server.url, body, "application/x-www-form-urlencoded", forged=forged, ts=stamp)
    assert status == 401
    assert counts(server.db) == before


def test_oversized_body_is_refused(server: Server) -> None:
    body = b"payload=" + b"x" * (2 * 1024 * 1024)
    assert post(server.url, body, "application/x-www-form-urlencoded") in (400, 413)


def test_no_half_written_flows(server: Server) -> None:
    """After all the noise, every saved flow is in a state its script knows."""
    eng = make_engine(server.db)
    try:
        with session_scope(eng) as s:
            flows = list(s.exec(select(FlowSession)).scalars())  # type: ignore[call-overload]
    finally:
        eng.dispose()
    assert all(f.status in ("active", "completed", "cancelled", "expired") for f in flows)


async def test_the_access_log_shows_refused_requests_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    async with slack_env(f"sqlite:///{tmp_path / 'fd.db'}", start=TUESDAY) as env:
        d = await env.sender.slash_command(TEACHER, "/consult", channel_id=env.dm_id(TEACHER))
        assert d.status == 200
        body = b"command=%2Fconsult&user_id=U0NOBODY"
        stamp = str(int(time.time()))
        async with aiohttp.ClientSession() as http, http.post(
            env.sender.events_url, data=body, headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": sign("not-the-secret", int(stamp), body)},
        ) as resp:
            assert resp.status == 401
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(lines) == 1 and '"POST /slack/events HTTP/1.1" 401' in lines[0]
