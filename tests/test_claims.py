"""Claims held by ended processes on this host are released at start (store.claims).

A restarted bot must not leave the professional's next question, claimed by the
process that was killed, waiting for the lease to run out; and it must never take
a claim from a process that may still be sending it (another host, a live pid).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine

from store import claims, repo, sql
from store.db import session_scope
from store.models import OutboxMessage, Reminder

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
HOST = socket.gethostname()


def _ended_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_worker_id_names_host_pid_start_and_holder() -> None:
    holder = object()
    host, pid, started, obj = claims.worker_id(holder).split(":")
    assert (host, int(pid), int(obj, 16)) == (HOST, os.getpid(), id(holder))
    assert started and claims.worker_id(holder) == claims.worker_id(holder)


def test_only_an_ended_process_on_this_host_is_gone() -> None:
    me = claims.worker_id(object())
    _, pid, started, obj = me.split(":")
    assert not claims.gone(me)  # this very process
    assert claims.gone(f"{HOST}:{pid}:{started}x:{obj}")  # an earlier process with this pid
    assert claims.gone(f"{HOST}:{_ended_pid()}:abcd1234:1")
    assert not claims.gone(f"other-host:{_ended_pid()}:abcd1234:1")  # cannot tell: wait
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as live:
        try:
            assert not claims.gone(f"{HOST}:{live.pid}:abcd1234:1")
        finally:
            live.kill()
    for odd in ("", "dead-worker", f"{HOST}:notapid:x:1", f"{HOST}:1:2"):
        assert not claims.gone(odd)


def test_release_ends_the_leases_of_ended_processes_only(engine: Engine) -> None:
    dead = f"{HOST}:{_ended_pid()}:abcd1234:1"
    live = claims.worker_id(object())
    elsewhere = f"other-host:{_ended_pid()}:abcd1234:1"
    until = NOW + timedelta(minutes=5)
    with session_scope(engine, write=True) as s:
        cx = sql.Cx.of(s)
        for key, worker in (("dead", dead), ("live", live), ("elsewhere", elsewhere)):
            sql.enqueue(cx, key=key, intent="chat.postMessage", channel=f"C0{key.upper()}",
                        payload={"text": key}, now=NOW, lease=sql.Lease(worker, until))
            repo.schedule(s, key=key, kind="sla_warning", subject_type="card", subject_id=1,
                          due_at=NOW)
        s.flush()
        for r in s.exec(select(Reminder)).scalars():  # type: ignore[call-overload]
            r.status, r.claimed_by, r.claimed_until = "claimed", {
                "dead": dead, "live": live, "elsewhere": elsewhere}[r.key], until
            s.add(r)
    with session_scope(engine, write=True) as s:
        cx = sql.Cx.of(s)
        assert claims.release_gone(cx, "outbox", NOW) == 1
        assert claims.release_gone(cx, "reminder", NOW) == 1
        assert claims.release_gone(cx, "outbox", NOW) == 0  # already released
    with session_scope(engine) as s:
        outbox = {o.idempotency_key: o for o in s.exec(select(OutboxMessage)).scalars()}  # type: ignore[call-overload]
        reminders = {r.key: r for r in s.exec(select(Reminder)).scalars()}  # type: ignore[call-overload]
    for rows in (outbox, reminders):
        assert rows["dead"].claimed_until == NOW  # claimable now: a sweep checks Slack first
        assert rows["live"].claimed_until == until and rows["elsewhere"].claimed_until == until
        assert rows["dead"].claimed_by == dead  # still marked as that worker's attempt


def test_due_reminders_are_claimed_once_and_a_lapsed_claim_is_taken_over(
        engine: Engine) -> None:
    with session_scope(engine, write=True) as s:
        for key, due in (("soon", NOW - timedelta(minutes=1)), ("later", NOW + timedelta(hours=1)),
                         ("sooner", NOW - timedelta(hours=1))):
            repo.schedule(s, key=key, kind="sla_warning", subject_type="card", subject_id=1,
                          due_at=due)
    until = NOW + timedelta(minutes=5)

    def claim(worker: str, now: datetime) -> list[int]:
        with session_scope(engine, write=True) as s:
            return claims.claim_reminders(sql.Cx.of(s), now, worker, until, batch=10)

    first = claim("a", NOW)
    assert len(first) == 2  # the two due ones, soonest first; not the one due later
    assert claim("b", NOW) == []  # claimed already, lease running
    with session_scope(engine) as s:
        rows = {r.id: r for r in s.exec(select(Reminder)).scalars()}  # type: ignore[call-overload]
    assert [rows[i].key for i in first] == ["sooner", "soon"]
    assert all(rows[i].status == "claimed" and rows[i].claimed_by == "a"
               and rows[i].attempts == 1 for i in first)
    taken = claim("b", until + timedelta(seconds=1))  # a's lease ran out: b takes them over
    assert set(first) <= set(taken)
    with session_scope(engine) as s:
        assert {s.get(Reminder, i).claimed_by for i in first} == {"b"}  # type: ignore[union-attr]
        assert {s.get(Reminder, i).attempts for i in first} == {2}  # type: ignore[union-attr]
