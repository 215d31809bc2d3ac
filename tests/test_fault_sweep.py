"""Many sweepers, and a sender killed mid-run: nothing lost, nothing sent twice."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot import jobs
from bot.config import Settings
from bot.policy import load_policy
from bot.reminders import ReminderSweep
from bot.sandbox.webapi import FakeSlack
from bot.services import Services
from store import repo
from store.db import make_engine, session_scope
from store.migrate import upgrade
from store.models import OutboxMessage, Reminder
from tests.helpers import until
from tests.slackenv import notice

ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)


def _schedule(engine: Engine, n: int) -> None:
    with session_scope(engine, write=True) as s:
        for i in range(n):
            repo.schedule(s, key=f"ping:{i}", kind="test_ping", subject_type="test",
                          subject_id=i, due_at=NOW - dt.timedelta(minutes=i % 60))


@pytest.mark.fault
@pytest.mark.postgres
async def test_two_workers_on_postgres_send_each_reminder_once(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(postgres_url)
    upgrade(engine)
    _schedule(engine, 1000)
    handled: list[tuple[str, int]] = []
    lock = threading.Lock()

    def ping(s: Session, sv: Services, r: Reminder, now: dt.datetime) -> bool:
        notice(s, f"ping:{r.subject_id}", "C0ESCALATE", f"ping {r.subject_id}")
        with lock:
            handled.append((r.claimed_by or "", r.subject_id))
        return True

    monkeypatch.setitem(jobs.NUDGES, "test_ping", ping)
    policy = load_policy("cambridgeshire")
    settings = Settings(bot_token="xoxb-unused", api_url="http://127.0.0.1:9/api/")
    async with aiohttp.ClientSession() as http:
        # Two workers, each with its own engine (its own connections), sweeping at once.
        workers = [Services.build(settings, policy, make_engine(postgres_url), http)
                   for _ in range(2)]
        sweeps = [ReminderSweep(sv, worker_id=f"worker-{i}", batch=50)
                  for i, sv in enumerate(workers)]
        results = await asyncio.gather(*(asyncio.to_thread(sw.run, NOW) for sw in sweeps))
    counts = Counter(sid for _, sid in handled)
    assert len(counts) == 1000 and set(counts.values()) == {1}, counts.most_common(3)
    assert sum(r.claimed for r in results) == 1000
    by_worker = Counter(w for w, _ in handled)
    print(f"\n[sweep] 1000 due reminders, two workers on PostgreSQL: {dict(by_worker)}")
    with session_scope(engine) as s:
        assert s.exec(select(func.count()).select_from(OutboxMessage)).scalar_one() == 1000  # type: ignore[call-overload]
        done = s.exec(select(func.count()).select_from(Reminder).where(  # type: ignore[call-overload]
            Reminder.status == "done")).scalar_one()
        assert done == 1000
    for sv in workers:
        sv.engine.dispose()
    engine.dispose()


def _worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.fault
async def test_sender_killed_mid_run_delivers_the_rest_once(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'fd.db'}"
    engine = make_engine(db)
    upgrade(engine)
    channels = [f"C0LOAD{i:02d}" for i in range(20)]
    with session_scope(engine, write=True) as s:
        for i in range(200):
            notice(s, f"load:{i}", channels[i % 20], f"message {i}")
    async with FakeSlack(tokens=["xoxb-kill-test"]) as fake:
        for c in channels + ["C0ESCALATE"]:
            fake.add_channel(c, c.lower())
        env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-kill-test", "SLACK_API_URL": fake.base_url,
               "DATABASE_URL": db, "FRONTDOOR_OUTBOX_PACE": "0.2", "FRONTDOOR_OUTBOX_LEASE": "2"}
        first = _worker(env)
        try:
            await fake.wait_for("chat.postMessage", count=60, timeout=60)
        finally:
            first.send_signal(signal.SIGKILL)  # kill -9: no clean-up of any kind
            first.wait()
        killed_at = len(fake.calls_to("chat.postMessage"))
        second = _worker(env)
        try:
            await fake.wait_for("chat.postMessage", count=200, timeout=90,
                                predicate=lambda c: c.ok)
            await _until_sent(engine, 200)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)
        keys: Counter[str] = Counter()
        for c in channels:
            for m in fake.history(c):
                keys[m["metadata"]["event_payload"]["key"]] += 1
    print(f"\n[kill -9] first worker killed after {killed_at} deliveries; "
          f"{sum(keys.values())} messages in the channels for 200 rows")
    assert len(keys) == 200, f"lost: {200 - len(keys)}"
    assert set(keys.values()) == {1}, [k for k, n in keys.items() if n > 1]
    engine.dispose()


async def _until_sent(engine: Engine, n: int) -> None:
    def sent() -> bool:
        with session_scope(engine) as s:
            return int(s.exec(select(func.count()).select_from(OutboxMessage).where(  # type: ignore[call-overload]
                OutboxMessage.status == "sent")).scalar_one()) >= n

    await until(sent, f"{n} rows recorded as sent", within=60, pause=0.1)

