"""Three ``frontdoor serve`` replicas on one PostgreSQL database behind HAProxy, one of them
killed with ``kill -9`` under load and restarted: nothing lost, nothing done twice.

The bench's simulated professionals (``bench.load.Driver``) play whole ``/consult`` and
``/refer`` flows through an HAProxy on loopback (round robin, health check on
``/readyz``) against three replicas in HTTP mode, with the bench's fake Web API
(``bench.fakeapi``) in this process. The replicas start together on an empty database
(each migrates on start). Once triage cards exist, replica 2 is killed inside a
``chat.postMessage`` the fake has just stored, while three ``frontdoor reminders run``
sweeps race for every open SLA reminder, made due; it is restarted on its port. Two
managers then click *Approve* on each card at once (through HAProxy, so usually on two
replicas), and whoever was cut off carries on with ``/consult`` or ``/refer``.

Proved: every flow completes; every card has exactly one decision; every outbox row is
sent and the fake received exactly one ``chat.postMessage`` per row (each message
carries its outbox key); every due reminder was done once (none pending, none claimed,
none sent twice); HAProxy spread the requests over all three replicas; only requests cut
off by the kill failed.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text, update

from bench import fakeapi, load, procs, replicas
from bot import intents
from bot.handlers.slack.blocks import ids
from bot.sandbox.demo import MANAGER, MANAGER2
from bot.sandbox.signing import SlackSender
from store.db import make_engine
from store.models import Decision, FlowSession, OutboxMessage, Reminder, TriageCard
from store.types import utcnow
from tests.test_fault_serve import KillSwitch, Serve, _healthy, _rows, _start, outbox_key

pytestmark = [
    pytest.mark.fault,
    pytest.mark.postgres,
    pytest.mark.skipif(replicas.haproxy_binary() is None, reason="haproxy is not installed"),
]

USERS = 18
FLOWS = 54  # flows started by the load (about 15 requests each)
SWEEPERS = 3  # ``frontdoor reminders run`` processes racing for the due reminders
WAIT = 30.0
CUT_OFF = ("502", "503", "504", "no reply", "ServerDisconnected", "ClientOSError")


def _card_buttons(fake: fakeapi.BenchFake) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(channel, message, actions block) of every card that still shows *Approve*."""
    found = []
    for channel, msgs in list(fake.messages.items()):
        for msg in list(msgs):
            for block in msg.get("blocks") or []:
                for el in block.get("elements") or []:
                    if el.get("action_id") == ids.CARD_APPROVE:
                        found.append((channel, msg, block))
    return found


async def _approve_all(fake: fakeapi.BenchFake, managers: SlackSender,
                       seen: set[str]) -> int:
    """Both managers click *Approve* at once on each card not clicked yet."""
    clicks = []
    for channel, msg, block in _card_buttons(fake):
        if msg["ts"] in seen:
            continue
        seen.add(msg["ts"])
        button = next(e for e in block["elements"] if e["action_id"] == ids.CARD_APPROVE)
        clicks += [managers.block_action(who, ids.CARD_APPROVE, button["value"],
                                         block_id=block.get("block_id"), channel_id=channel,
                                         message_ts=msg["ts"], message=msg)
                   for who in (MANAGER, MANAGER2)]
    statuses = [d.status for d in await asyncio.gather(*clicks)]
    assert set(statuses) <= {200}, statuses
    return len(clicks) // 2


async def _sweepers(env: dict[str, str], tmp: Path, n: int) -> None:
    """``n`` one-shot reminder sweeps at once (each also delivers what it queued)."""
    stamp = time.monotonic_ns()
    children = [procs.spawn(f"sweep-{stamp}-{i}", [sys.executable, "-m", "bot.cli",
                                                    "reminders", "run"], env, tmp)
                for i in range(n)]
    try:
        for child in children:
            code = await asyncio.wait_for(asyncio.to_thread(child.popen.wait), timeout=WAIT)
            assert code == 0, child.tail()
    finally:
        for child in children:
            child.stop()


def _make_due(engine: Any) -> int:
    """Every open card reminder due now (the SLA clocks run for hours; the race is the
    point). The weekly jobs keep their own times."""
    with engine.begin() as conn:
        r = conn.execute(update(Reminder).where(Reminder.status == "pending",
                                                Reminder.subject_type == "card")
                         .values(due_at=utcnow()))
        return int(r.rowcount)


async def _drained(engine: Any) -> None:
    async def empty() -> bool:
        return not await _rows(engine, OutboxMessage,
                               OutboxMessage.status.in_(("pending", "sending")))  # type: ignore[attr-defined]
    await replicas.until(empty, "the outbox to drain", WAIT)


async def test_three_replicas_behind_haproxy_one_killed(tmp_path: Path,
                                                        postgres_url: str) -> None:
    started = time.monotonic()
    engine = make_engine(postgres_url)
    ports = {f"r{i}": procs.free_port() for i in (1, 2, 3)}
    serves: dict[str, Serve] = {}
    fake = fakeapi.build(USERS)
    await fake.start("127.0.0.1", 0)
    env = {**procs.base_env(), "SLACK_BOT_TOKEN": fakeapi.TOKEN,
           "SLACK_SIGNING_SECRET": procs.SIGNING_SECRET, "SLACK_API_URL": fake.base_url,
           "DATABASE_URL": postgres_url, "SLACK_APP_TOKEN": "", "FRONTDOOR_POLICY": "",
           "FRONTDOOR_OUTBOX_PACE": "0", "FRONTDOOR_OUTBOX_LEASE": "60"}
    try:
        async with aiohttp.ClientSession() as http:
            # 1. Three replicas started together on an empty database: each migrates on start.
            for name, port in ports.items():
                serves[name] = _start({**env, "PORT": str(port)}, tmp_path / f"{name}-1.log")
            await asyncio.gather(*(_healthy(s, http) for s in serves.values()))
            async with replicas.haproxy(tmp_path, ports) as lb:
                url = f"http://127.0.0.1:{lb.port}/slack/events"
                driver = load.Driver(http, url, fake.root_url, procs.SIGNING_SECRET,
                                     mode="frontdoor")
                managers = SlackSender(url, procs.SIGNING_SECRET, workspace=fake, session=http)
                switch = KillSwitch(fake, typing=lambda: True)
                switch.serve = serves["r2"]
                users = load.make_users(USERS)

                # 2. The load; once cards exist, r2 dies inside a post the fake has stored,
                # the reminders are made due and three sweeps race for them; r2 restarts.
                async def kill_and_restart() -> dict[str, Any]:
                    await replicas.until(lambda: switch.killed, "the kill", 120)
                    dead = serves["r2"]
                    await asyncio.to_thread(dead.popen.wait)
                    owed = Counter(r.status for r in await _rows(
                        engine, OutboxMessage, OutboxMessage.status != "sent"))
                    due = await asyncio.to_thread(_make_due, engine)
                    serves["r2"] = _start({**env, "PORT": str(ports["r2"])},
                                          tmp_path / "r2-2.log")
                    await asyncio.gather(_sweepers(env, tmp_path, SWEEPERS),
                                         _healthy(serves["r2"], http))
                    return {"code": dead.popen.returncode, "owed": dict(owed), "due": due}

                async with asyncio.timeout(240):
                    killed, _ = await asyncio.gather(kill_and_restart(),
                                                     driver.run(users, flows=FLOWS))
                assert killed["code"] == -signal.SIGKILL
                assert killed["due"] > 0, "no reminder was open at the kill"

                # 3. Managers decide every card, two clicks at once each; whoever was cut
                # off carries on with the command of their open flow.
                seen: set[str] = set()
                cards = await _approve_all(fake, managers, seen)
                by_user = {u.id: u for u in users}
                for _ in range(3):
                    await _drained(engine)
                    active = await _rows(engine, FlowSession, FlowSession.status == "active")
                    if not active:
                        break
                    await asyncio.gather(*(driver.flow(by_user[f.user_id], f.kind)
                                           for f in active))
                await _drained(engine)
                cards += await _approve_all(fake, managers, seen)
                await _drained(engine)
                # The clocks the decisions started, and anything left open, race once more.
                due_after = await asyncio.to_thread(_make_due, engine)
                await _sweepers(env, tmp_path, SWEEPERS)
                await _drained(engine)
                spread = await lb.servers(http)

            # 4. Every flow completed, every card decided once:
            flows = await _rows(engine, FlowSession)
            assert flows and {f.status for f in flows} == {"completed"}, \
                Counter(f.status for f in flows)
            all_cards = await _rows(engine, TriageCard)
            assert all_cards and len(all_cards) == cards
            assert {c.status for c in all_cards} == {"decided"}
            decisions = Counter(d.card_id for d in await _rows(engine, Decision))
            assert {c.id: decisions[c.id] for c in all_cards} == {c.id: 1 for c in all_cards}
            # ... every row sent, and exactly one chat.postMessage per row at the fake:
            rows = await _rows(engine, OutboxMessage)
            assert {r.status for r in rows} == {"sent"}, Counter(r.status for r in rows)
            posts = [r.idempotency_key for r in rows if intents.posts(r)
                     and r.last_error != "skipped"]
            assert fake.counts["chat.postMessage"] == len(posts), (
                fake.counts["chat.postMessage"], len(posts))
            in_slack = Counter(outbox_key(m) for msgs in fake.messages.values() for m in msgs
                               if m.get("bot_id"))
            assert None not in in_slack, "a bot message without its outbox key"
            assert sorted(k for k, n in in_slack.items() if n > 1) == []
            assert set(in_slack) == set(posts)
            assert not fake.errors, fake.errors
            # ... every reminder made due was done once (or found no longer applying):
            reminders = await _rows(engine, Reminder, Reminder.subject_type == "card")
            assert {r.status for r in reminders} <= {"done", "cancelled"}, \
                Counter(r.status for r in reminders)
            assert all(r.sent_count == (1 if r.status == "done" else 0) for r in reminders)
            done = [r for r in reminders if r.status == "done"]
            assert done, "no reminder was sent"
            assert all(in_slack[f"reminder:{r.id}"] == 1 for r in done)
            # ... HAProxy used all three, r2 again since its restart:
            assert all(int(spread[n]["stot"]) > 0 for n in ports), spread
            assert spread["r2"]["status"] == "UP", spread["r2"]
            # ... and only requests cut off by the kill failed, at most one per person.
            errors = driver.rec.errors
            assert all(any(c in kind for c in CUT_OFF) for kind in errors), errors
            assert sum(errors.values()) <= USERS, errors
            for name, serve in serves.items():
                log = serve.log.read_text(errors="replace")
                assert "Traceback" not in log, f"{name}: {serve.tail()}"
            with engine.connect() as conn:
                processed = conn.execute(text("SELECT count(*) FROM processed_event")).scalar()
            print(f"\n[replicas] {len(flows)} flows, {len(all_cards)} cards, {len(rows)} rows "
                  f"({len(posts)} posts), {len(done)} reminders sent of {len(reminders)}; r2 "
                  f"killed after {switch.killed_at} posts (rows owed {killed['owed']}, "
                  f"{killed['due']} + {due_after} reminders made due); requests per replica "
                  f"{ {n: spread[n]['stot'] for n in ports} } (r2 down "
                  f"{spread['r2']['chkdown']}x); errors {dict(errors)}; "
                  f"{processed} events; {time.monotonic() - started:.1f}s")
    finally:
        for serve in serves.values():
            serve.stop()
        await fake.stop()
        engine.dispose()
