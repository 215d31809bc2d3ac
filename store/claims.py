"""Claiming due reminders; who holds a claim on an outbox row or a reminder, and releasing
a dead holder's claims.

Due rows are claimed one way, in SQL on the transaction's connection: the outbox's
heads by ``store.sql.claim_heads``, reminders by :func:`claim_reminders` here.

A claim names its worker ``host:pid:process:object``. Claims run out after a lease,
so a sender killed mid-delivery is taken over by any other; but after a restart
on the same host the new process can tell at once that the old one is gone (its
pid is not running, or it is this pid with another start token) and release its
claims, so that nobody waits for the lease: the professional's next question, in
flight when the bot was killed, is checked against its platform and sent straight away.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from datetime import datetime

from store import sql
from store.runner import TxRunner

log = logging.getLogger("frontdoor.store")
_STARTED = secrets.token_hex(4)  # this process, as opposed to an earlier one with its pid


def worker_id(holder: object) -> str:
    """A claimant's name, unique to ``holder`` in this process on this host."""
    return f"{socket.gethostname()}:{os.getpid()}:{_STARTED}:{id(holder):x}"


def gone(worker: str) -> bool:
    """Whether ``worker`` ran on this host in a process that has ended (False if unsure)."""
    parts = worker.split(":")  # a hostname has no colon
    if len(parts) != 4 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    pid, started = int(parts[1]), parts[2]
    if pid == os.getpid():
        return started != _STARTED
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's live process has that pid now
        return False
    return False


_DUE_REMINDERS = (
    "SELECT id FROM reminder WHERE (status = 'pending' AND due_at <= :now) "
    "OR (status = 'claimed' AND claimed_until < :now) ORDER BY due_at LIMIT :batch"
)
_CLAIM_REMINDER = (
    "UPDATE reminder SET status = 'claimed', claimed_by = :worker, claimed_until = :until, "
    "attempts = attempts + 1 WHERE id = :id"
)


def claim_reminders(cx: sql.Cx, now: datetime, worker: str, until: datetime,
                    batch: int) -> list[int]:
    """Claim up to ``batch`` reminders due at ``now`` (or whose claim ran out) for
    ``worker`` until ``until``; returns their ids, soonest due first.

    The query reads the ``(status, due_at)`` index, so it costs what is due. On
    PostgreSQL rows another sweep has locked are skipped (``SKIP LOCKED``); SQLite
    serialises writers, so the caller's write transaction is enough.
    """
    query = _DUE_REMINDERS if cx.sqlite else _DUE_REMINDERS + " FOR UPDATE SKIP LOCKED"
    ids = [int(r[0]) for r in cx.execute(query, {"now": cx.when(now), "batch": batch})
           .fetchall()]
    if ids:
        cx.execute(_CLAIM_REMINDER, [{"id": i, "worker": worker, "until": cx.when(until)}
                                     for i in ids])
    return ids


_HOLDERS = {
    "outbox": "SELECT DISTINCT claimed_by FROM outbox WHERE status = 'sending' "
              "AND claimed_until > :now",
    "reminder": "SELECT DISTINCT claimed_by FROM reminder WHERE status = 'claimed' "
                "AND claimed_until > :now",
}
_RELEASE = {
    "outbox": "UPDATE outbox SET claimed_until = :now WHERE status = 'sending' "
              "AND claimed_by = :worker AND claimed_until > :now",
    "reminder": "UPDATE reminder SET claimed_until = :now WHERE status = 'claimed' "
                "AND claimed_by = :worker AND claimed_until > :now",
}


def release_gone(cx: sql.Cx, table: str, now: datetime) -> int:
    """End the leases that ended processes on this host still hold in ``table``
    (``outbox`` or ``reminder``); returns how many rows were released."""
    when = cx.when(now)
    holders = [r[0] for r in cx.execute(_HOLDERS[table], {"now": when}).fetchall()]
    released = 0
    for worker in holders:
        if worker and gone(worker):
            released += cx.execute(_RELEASE[table], {"worker": worker, "now": when}).rowcount
    return released


def release_worker(cx: sql.Cx, table: str, worker: str, now: datetime) -> int:
    """End the leases ``worker`` (a claimant of this process) holds in ``table``: at a clean
    shutdown, so that another process takes its rows over at once."""
    return int(cx.execute(_RELEASE[table], {"worker": worker, "now": cx.when(now)}).rowcount)


async def release(runner: TxRunner, table: str, now: datetime) -> None:
    """At start: release what ended processes on this host held in ``table``."""
    try:
        released, _ = await runner.run(lambda tx: release_gone(tx.cx, table, now))
    except Exception:  # noqa: BLE001 - their leases still run out
        log.exception("could not release the claims of ended processes (%s)", table)
        return
    if released:
        log.info("released %d %s rows held by ended processes on this host", released, table)
