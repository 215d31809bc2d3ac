"""kill -9 of ``frontdoor serve`` in the middle of flows and deliveries, then a restart:
every flow resumes, every message is delivered exactly once, no reminder is lost.

Eight professionals play whole ``/consult`` and ``/refer`` flows against a real
``frontdoor serve`` process (HTTP mode, a SQLite file) with signed requests, as
Slack sends them, while the fake Web API runs in this process. Once some referrals
have become triage cards, the process is killed with SIGKILL at the outbox's worst
moment: inside a ``chat.postMessage`` that the fake has just stored, before the bot
hears Slack's answer. A new process on the same database must then show every
professional the current question of their flow and take them to the end: Slack
retries the events it got no answer for, people click or type again when their
answer was lost, and some type ``/consult`` or ``/refer`` again to carry on.

Proved: every flow completes and none is left active; every outbox row is sent,
and every ``chat.postMessage`` row is in Slack exactly once (each message carries
its outbox key as metadata); every triage card has exactly the SLA reminders its
decision clock gives it; a retried event already applied changes nothing; and the
bot never answers a request with anything but 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bench.load import CHOOSE, plan_answer, question_block
from bot import intents
from bot.policy import Policy, load_policy
from bot.sandbox import demo
from bot.sandbox.signing import Delivery, SlackSender
from bot.sandbox.webapi import FakeSlack
from store import repo
from store.db import make_engine, session_scope
from store.models import (
    Consultation,
    FlowSession,
    MessageRef,
    OutboxMessage,
    ProcessedEvent,
    Referral,
    Reminder,
    TriageCard,
)
from tests.helpers import until

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "xoxb-kill-serve"
SECRET = "kill-serve-signing-secret"
USERS = tuple(f"U0KILL{i:02d}" for i in range(1, 9))  # fictional professionals
ORDERS = (("refer", "consult"), ("consult", "refer"))  # even users refer first
CARDS_BEFORE_KILL = 3  # triage cards posted before the kill is armed
STAGGER = 5  # bot messages between one user's first command and the next user's
WAIT = 20.0  # seconds for any one thing to happen
CARD_POST = re.compile(r"^card:\d+:post$")
PORT_LINE = re.compile(r"HTTP on port (\d+)")
DONE = re.compile(r"^flow:(\d+):v\d+:done$")
CUT_OFF = (aiohttp.ClientError, OSError, TimeoutError)


class Killed(Exception):
    """The bot went away under this request (connection refused, reset or timed out)."""


@dataclass
class Person:
    """One professional: their flows to play and where they are."""

    id: str
    dm: str
    kinds: tuple[str, ...]
    handled: str = ""  # ts of the newest bot message acted on ("0": the empty DM)
    done: set[int] = field(default_factory=set)  # flow ids whose "Thank you" was read
    texts: int = 0
    cut_off: bool = False  # the kill cut off this person's last request
    retries: list[tuple[dict[str, Any], str]] = field(default_factory=list)  # (event, id)

    @property
    def finished(self) -> bool:
        """All this person's flows were completed."""
        return len(self.done) >= len(self.kinds)


@dataclass
class Serve:
    """A ``frontdoor serve`` child process and its log."""

    popen: subprocess.Popen[bytes]
    log: Path
    port: int = 0

    def tail(self, lines: int = 40) -> str:
        """The end of the log, for failure messages."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM, wait, then SIGKILL (only this child, by its pid)."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def _start(env: dict[str, str], log: Path, command: str = "serve") -> Serve:
    with open(log, "wb") as out:
        popen = subprocess.Popen([sys.executable, "-m", "bot.cli", command], cwd=ROOT, env=env,
                                 stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return Serve(popen, log)


async def _healthy(serve: Serve, http: aiohttp.ClientSession) -> None:
    """Wait for the port line in the log, then for ``GET /healthz`` to answer 200."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if serve.popen.poll() is not None:
            raise AssertionError(f"serve exited ({serve.popen.returncode}):\n{serve.tail()}")
        found = PORT_LINE.search(serve.log.read_text(errors="replace"))
        if found:
            serve.port = int(found.group(1))
            with contextlib.suppress(*CUT_OFF):
                async with http.get(f"http://127.0.0.1:{serve.port}/healthz") as r:
                    if r.status == 200:
                        return
        await asyncio.sleep(0.05)
    raise AssertionError(f"serve was not healthy within {WAIT}s:\n{serve.tail()}")


def outbox_key(msg: dict[str, Any]) -> str | None:
    """The outbox key a bot message carries as metadata (None when it has none)."""
    meta = msg.get("metadata") or {}
    if meta.get("event_type") != "frontdoor_outbox":
        return None
    key = (meta.get("event_payload") or {}).get("key")
    return str(key) if key else None


class KillSwitch:
    """Kills the bot inside the fake's ``chat.postMessage``: the message is stored in
    Slack, the bot never hears so (the row stays ``sending`` in its database)."""

    def __init__(self, fake: FakeSlack, typing: Callable[[], bool]) -> None:
        self.typing = typing  # a typed answer is in flight: the kill may cut it off
        self.serve: Serve | None = None
        self.posts = 0  # messages the fake stored
        self.cards = 0  # triage cards among them
        self.killed_at: int | None = None
        self._post = fake._methods["chat.postMessage"]  # the fake's own handler
        fake._methods["chat.postMessage"] = self._intercept

    @property
    def killed(self) -> bool:
        """The kill happened."""
        return self.killed_at is not None

    def _armed(self) -> bool:
        """Enough cards exist, and preferably a typed answer is on its way (for Slack to
        retry); two cards later, whatever is on its way."""
        if self.killed or self.cards < CARDS_BEFORE_KILL:
            return False
        return self.typing() or self.cards >= CARDS_BEFORE_KILL + 2

    def _intercept(self, args: dict[str, Any]) -> dict[str, Any]:
        body = self._post(args)
        if not body.get("ok"):
            return body
        self.posts += 1
        if CARD_POST.match(outbox_key(body["message"]) or ""):
            self.cards += 1
        if self._armed() and str(body["channel"]).startswith("D") and self.serve is not None:
            self.serve.popen.send_signal(signal.SIGKILL)  # kill -9: no clean-up of any kind
            self.killed_at = self.posts
        return body


class Professionals:
    """Plays the people: reads the newest bot message in each DM and answers it."""

    def __init__(self, fake: FakeSlack, sender: SlackSender) -> None:
        self.fake = fake
        self.sender = sender
        self.statuses: Counter[int] = Counter()
        self.cut_off = 0
        self.in_flight: Counter[str] = Counter()  # requests sent and not yet answered
        self._events = 0

    def messages(self, p: Person) -> list[dict[str, Any]]:
        """The bot's messages in ``p``'s DM, oldest first."""
        return [m for m in self.fake.history(p.dm) if m.get("bot_id")]

    def newest_ts(self, p: Person) -> str:
        """The ts of the bot's newest message in the DM ("0" when there is none)."""
        msgs = self.messages(p)
        return str(msgs[-1]["ts"]) if msgs else "0"

    def last_question(self, p: Person) -> str | None:
        """``flow:question`` of the newest question in the DM."""
        for msg in reversed(self.messages(p)):
            found = question_block(msg)
            if found is not None:
                return str(found[0]["block_id"]).split(":", 1)[1]
        return None

    async def play(self, p: Person, stop: Callable[[], bool] = lambda: False) -> None:
        """Act on each new bot message until every flow is done, ``stop()`` says so, or
        a request is cut off by the kill."""
        try:
            while not p.finished and not stop():
                if not await self.step(p):
                    await self.wait_for_reply(p, stop)
        except Killed:
            if not stop():
                raise  # only the kill may cut a request off
            self.cut_off += 1
            p.cut_off = True

    async def step(self, p: Person) -> bool:
        """Act on the newest bot message if not done yet; False when waiting for the bot."""
        msgs = self.messages(p)
        newest = str(msgs[-1]["ts"]) if msgs else "0"
        if newest == p.handled:
            return False
        p.handled = newest
        if not msgs:
            await self.command(p)
            return True
        msg = msgs[-1]
        found = question_block(msg)
        done = DONE.match(outbox_key(msg) or "")
        if found is not None:
            await self.answer(p, msg, *found)
        elif done is not None:
            p.done.add(int(done.group(1)))
            if not p.finished:
                await self.command(p)
        else:
            raise AssertionError(f"{p.id}: unexpected message {outbox_key(msg)}: {msg['text']}")
        return True

    async def wait_for_reply(self, p: Person, stop: Callable[[], bool]) -> None:
        """Until the bot posts something new in the DM (or ``stop()``)."""
        deadline = time.monotonic() + WAIT
        while self.newest_ts(p) == p.handled and not stop():
            if time.monotonic() > deadline:
                raise AssertionError(f"{p.id} had no reply within {WAIT}s after "
                                     f"{self.last_question(p)}; statuses {dict(self.statuses)}")
            await asyncio.sleep(0.005)

    async def reply_after(self, p: Person, ts: str, why: str) -> None:
        """Until the bot posts in the DM after the message at ``ts``."""
        await until(lambda: self.newest_ts(p) != ts, f"a reply to {p.id}'s {why}")

    async def command(self, p: Person) -> None:
        """Type ``/consult`` or ``/refer`` in the DM (the next flow, or the current one)."""
        kind = p.kinds[min(len(p.done), len(p.kinds) - 1)]
        await self._send(self.sender.slash_command(p.id, f"/{kind}", channel_id=p.dm))

    async def answer(self, p: Person, msg: dict[str, Any], block: dict[str, Any],
                     qid: str) -> None:
        """Click, choose or type the answer to a question message."""
        method, kwargs = plan_answer(msg, block, qid, p.texts, CHOOSE)
        if method == "block_action":
            await self._send(self.sender.block_action(p.id, channel_id=p.dm, **kwargs))
            return
        p.texts += 1
        await self.type(p, kwargs["text"])

    async def type(self, p: Person, text: str) -> None:
        """A ``message.im`` event; one cut off by the kill is for Slack to retry."""
        stored = self.fake.add_message(p.dm, p.id, text)
        event = {"type": "message", "channel": p.dm, "user": p.id, "text": text,
                 "ts": stored["ts"], "event_ts": stored["ts"], "channel_type": "im",
                 "client_msg_id": str(uuid.uuid4()), "team": self.sender.team_id}
        self._events += 1
        event_id = f"Ev0KILL{self._events:05d}"
        try:
            await self._send(self.sender.event(event, event_id=event_id), "typed")
        except Killed:
            p.retries.append((event, event_id))
            raise

    async def retry(self, p: Person) -> None:
        """Slack retries each event it got no answer for (same id, ``X-Slack-Retry-Num``)."""
        for event, event_id in p.retries:
            await self._send(self.sender.event(event, event_id=event_id, retry_num=1,
                                               retry_reason="http_error"))
        p.retries.clear()

    async def _send(self, request: Any, kind: str = "click") -> Delivery:
        self.in_flight[kind] += 1
        try:
            async with asyncio.timeout(10):
                delivery: Delivery = await request
        except CUT_OFF as exc:
            raise Killed() from exc
        finally:
            self.in_flight[kind] -= 1
        self.statuses[delivery.status] += 1
        return delivery


async def _rows(engine: Engine, model: type, *where: Any) -> list[Any]:
    def read() -> list[Any]:
        with session_scope(engine) as s:
            stmt = select(model)
            for w in where:
                stmt = stmt.where(w)
            rows = list(s.exec(stmt).scalars())  # type: ignore[call-overload]
            s.expunge_all()
            return rows

    return await asyncio.to_thread(read)


async def _drained(engine: Engine, serve: Serve) -> None:
    """Until no outbox row is pending or being sent (the restarted bot has caught up)."""
    deadline = time.monotonic() + WAIT
    open_rows: list[OutboxMessage] = []
    while time.monotonic() < deadline:
        assert serve.popen.poll() is None, f"serve exited:\n{serve.tail()}"
        open_rows = await _rows(engine, OutboxMessage,
                                OutboxMessage.status.in_(("pending", "sending")))  # type: ignore[attr-defined]
        if not open_rows:
            return
        await asyncio.sleep(0.05)
    stuck = [(r.idempotency_key, r.status, r.last_error) for r in open_rows]
    raise AssertionError(f"the outbox did not drain: {stuck[:10]}")


async def _showing_current_question(engine: Engine, people: Professionals,
                                    persons: list[Person]) -> dict[str, FlowSession]:
    """Every active flow's current question is the newest message in its person's DM."""
    active = {f.user_id: f for f in await _rows(engine, FlowSession,
                                                FlowSession.status == "active")}
    for p in persons:
        flow = active.get(p.id)
        if flow is not None:
            shown = people.last_question(p)
            assert shown == f"{flow.id}:{flow.state}", (p.id, shown, flow.state)
            assert question_block(people.messages(p)[-1]) is not None, p.id
    return active


def _expected_reminders(policy: Policy, card: TriageCard, referral: Referral) -> set[str]:
    """The keys of the SLA reminders a new card gets (``start_card_clocks`` in
    ``bot.flows.triage.scheduled``): its decision clock's warnings and breach, and a phoned
    referral's confirmation clock."""
    assert card.clock and card.received_at

    def keys(clock: str, start: datetime, phase: str) -> set[str]:
        stamp = start.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
        prefix = f"{repo.key_prefix('card', card.id or 0, clock)}{phase}{stamp}:"
        warnings = {f"{prefix}warn:{f:g}" for f in policy.clock(clock).warn_at}
        return warnings | {f"{prefix}breach"}

    expected = keys(card.clock, card.received_at, "decide-")
    if referral.phone_referral and referral.phoned_at:
        expected |= keys("written_confirmation", referral.phoned_at, "")
    return expected


@pytest.mark.fault
async def test_serve_killed_mid_flows_resumes_every_flow_and_sends_once(
        tmp_path: Path) -> None:
    started = time.monotonic()
    db = f"sqlite:///{tmp_path / 'fd.db'}"
    policy = load_policy("cambridgeshire")
    persons = [Person(u, "", ORDERS[i % 2]) for i, u in enumerate(USERS)]
    serves: list[Serve] = []
    engine = make_engine(db)
    try:
        async with FakeSlack(tokens=[TOKEN]) as fake, aiohttp.ClientSession() as http:
            demo.seed(fake, policy)
            for i, p in enumerate(persons):
                fake.add_user(p.id, f"kill.user{i + 1:02d}", real_name=f"Professional {i + 1}")
                p.dm = fake.dm_channel(p.id)
            # Every setting is given (a developer's .env must not change the run); the
            # short lease lets the new process take over the dead one's claimed rows soon.
            env = {**os.environ, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
                   "SLACK_API_URL": fake.base_url, "DATABASE_URL": db, "PORT": "0",
                   "SLACK_APP_TOKEN": "", "FRONTDOOR_POLICY": "",
                   # The default lease (60 s): the restarted bot must release the dead
                   # one's claims at once (store.claims), not wait for them to run out.
                   "FRONTDOOR_OUTBOX_PACE": "0", "FRONTDOOR_OUTBOX_LEASE": "60",
                   "PYTHONUNBUFFERED": "1"}
            first = _start(env, tmp_path / "serve-1.log")
            serves.append(first)
            await _healthy(first, http)
            sender = SlackSender(f"http://127.0.0.1:{first.port}/slack/events", SECRET,
                                 workspace=fake, session=http)
            people = Professionals(fake, sender)
            switch = KillSwitch(fake, typing=lambda: people.in_flight["typed"] > 0)
            switch.serve = first

            # 1. Everyone plays, each starting a little after the one before, until the kill.
            async def until_killed(i: int, p: Person) -> None:
                await until(lambda: switch.posts >= i * STAGGER or switch.killed,
                             f"{i * STAGGER} messages before {p.id} starts")
                await people.play(p, stop=lambda: switch.killed)

            async with asyncio.timeout(120):
                await asyncio.gather(*(until_killed(i, p) for i, p in enumerate(persons)))
            assert switch.killed, "every flow finished before the kill was armed"
            await asyncio.to_thread(first.popen.wait)
            assert first.popen.returncode == -signal.SIGKILL
            shown_at_kill = {p.id: people.last_question(p) for p in persons}
            mid_way = await _rows(engine, FlowSession, FlowSession.status == "active")
            cards_at_kill = len(await _rows(engine, TriageCard))
            owed = Counter(r.status for r in await _rows(
                engine, OutboxMessage, OutboxMessage.status != "sent"))
            assert mid_way, "no flow was mid-way at the kill"
            assert cards_at_kill >= CARDS_BEFORE_KILL
            # The message the fake stored as the bot died is still "sending" in the database.
            assert owed["sending"] >= 1, owed

            # 2. A new process on the same database delivers what was owed, and each flow
            # shows its current question before anyone does anything: though its first
            # searches of Slack for what the dead one sent fail (it must not send again).
            fake.fail("conversations.history", status=429, times=2, retry_after=1)
            fake.fail("conversations.history", status=500)
            second = _start(env, tmp_path / "serve-2.log")
            serves.append(second)
            await _healthy(second, http)
            sender.events_url = f"http://127.0.0.1:{second.port}/slack/events"
            await _drained(engine, second)
            active = await _showing_current_question(engine, people, persons)
            moved_on = sum(1 for p in persons if p.id in active
                           and people.last_question(p) != shown_at_kill[p.id])

            # 3. Slack retries the events the kill cut off: one the bot had not applied is
            # applied now; one it had applied changes nothing (checked before anyone goes on).
            applied = {e.event_id for e in await _rows(engine, ProcessedEvent)}
            before = {p.id: people.newest_ts(p) for p in persons}
            retried = [(p, eid in applied) for p in persons for _, eid in p.retries]
            versions = {f.user_id: f.version for f in active.values()}
            await asyncio.gather(*(people.retry(p) for p in persons))
            for p, was_applied in retried:
                if not was_applied:
                    await people.reply_after(p, before[p.id], "retried event")
            await _drained(engine, second)
            active = await _showing_current_question(engine, people, persons)

            # 4. People carry on: some type the command again (the bot shows the flow's
            # current question again), the others answer from their DM; whoever got no
            # reply (an answer or a command lost in the kill) does it again.
            resumers = [p for i, p in enumerate(persons) if i % 2 == 0 and p.id in active]
            shown = {p.id: people.newest_ts(p) for p in resumers}
            await asyncio.gather(*(people.command(p) for p in resumers))
            for p in resumers:
                await people.reply_after(p, shown[p.id], f"/{p.kinds[len(p.done)]} to resume")
            await _drained(engine, second)
            active = await _showing_current_question(engine, people, persons)
            for p, was_applied in retried:
                if was_applied:  # Slack's retry of an answer already taken was not taken again
                    assert people.newest_ts(p) == before[p.id] or p in resumers, p.id
                    version = active[p.id].version if p.id in active else None
                    assert version == versions.get(p.id), (p.id, version, versions.get(p.id))
            again = [p for p in persons if people.newest_ts(p) == p.handled and not p.finished]
            acked_lost = sum(1 for p in again if not p.cut_off)  # acked, then lost in the kill
            for p in again:
                p.handled = ""  # no reply came: act on the newest message again
            async with asyncio.timeout(120):
                await asyncio.gather(*(people.play(p) for p in persons))
            await _drained(engine, second)

            # 5. What the issue asks. Every flow resumed and completed:
            flows = await _rows(engine, FlowSession)
            by_user = Counter((f.user_id, f.kind, f.status) for f in flows)
            for p in persons:
                assert p.finished, (p.id, p.done)
                for kind in p.kinds:
                    assert by_user[(p.id, kind, "completed")] == 1, (p.id, kind, by_user)
            assert {f.status for f in flows} == {"completed"}, by_user
            # ... every row sent, and every posted message in Slack exactly once:
            rows = await _rows(engine, OutboxMessage)
            assert {r.status for r in rows} == {"sent"}, Counter(r.status for r in rows)
            posts = {r.idempotency_key for r in rows if intents.posts(r)}
            in_slack: Counter[str | None] = Counter(
                outbox_key(m) for msgs in list(fake.messages.values()) for m in msgs
                if m.get("bot_id"))
            assert None not in in_slack, "a bot message without its outbox key"
            twice = sorted(str(k) for k, n in in_slack.items() if n > 1)
            assert not twice, f"sent twice: {twice}"
            keys = {str(k) for k in in_slack}
            assert keys == posts, (sorted(posts - keys), sorted(keys - posts))
            calls = [c for c in fake.calls_to("chat.postMessage") if c.ok]
            assert sorted(outbox_key(c.response["message"]) or "" for c in calls  # type: ignore[index]
                          ) == sorted(posts), "a row was posted twice, or a post has no key"
            # ... each card and consultation knows where it was posted (updates need it):
            cards = await _rows(engine, TriageCard)
            consultations = await _rows(engine, Consultation)
            assert len(cards) == len(consultations) == len(persons)
            refs = await _rows(engine, MessageRef, MessageRef.message_id.is_not(None))  # type: ignore[union-attr]
            posted = {(r.subject_type, r.subject_id) for r in refs if r.purpose == "post"}
            assert posted >= {("card", c.id) for c in cards} | {
                ("consultation", c.id) for c in consultations}
            # ... no reminder lost: each card has its decision clock's warnings and breach:
            reminders = await _rows(engine, Reminder, Reminder.subject_type == "card")
            referrals = {r.id: r for r in await _rows(engine, Referral)}
            expected = set().union(*(_expected_reminders(policy, c, referrals[c.referral_id])
                                     for c in cards))
            assert sorted(r.key for r in reminders) == sorted(expected)
            assert {r.status for r in reminders} == {"pending"}
            for c in cards:
                breach = [r.due_at for r in reminders
                          if r.subject_id == c.id and r.kind == "sla_breach"]
                assert breach == [c.due_at], (c.id, c.clock)
            # ... and never an answer but 200, nor an error in either process's log.
            assert set(people.statuses) == {200}, people.statuses
            for serve in serves:
                errors = [line for line in serve.log.read_text(errors="replace").splitlines()
                          if " ERROR " in line or line.startswith("Traceback")]
                assert not errors, f"{serve.log.name}: {errors[:5]}"

            print(f"\n[kill -9 serve] killed after {switch.killed_at} deliveries with "
                  f"{len(mid_way)} flows mid-way ({cards_at_kill} cards; rows owed {dict(owed)}); "
                  f"{people.cut_off} requests cut off ({len(retried)} events retried by Slack, "
                  f"{sum(a for _, a in retried)} of them applied before the kill), "
                  f"{moved_on} next questions delivered after the restart, {len(resumers)} "
                  f"resumed with the command, {len(again)} tried again ({acked_lost} after a "
                  f"200); "
                  f"{sum(in_slack.values())} messages for {len(posts)} rows, "
                  f"{len(reminders)} reminders for {len(cards)} cards; "
                  f"{time.monotonic() - started:.1f}s")
            print(f"[kill -9 serve] last question shown at the kill: {shown_at_kill}")
    finally:
        for serve in serves:
            serve.stop()
        engine.dispose()
