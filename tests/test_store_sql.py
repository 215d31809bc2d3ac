"""The hand-written SQL (``store.sql``) and the transaction runner (``store.tx``).

Proves, on SQLite and PostgreSQL: what ``store.sql`` writes the ORM reads back
identically (JSON with nested values and non-ASCII text, aware datetimes given in
British Summer Time coming back as the same instant in UTC, stored exactly as the
ORM stores them) and the other way round; ``save_flow`` is a compare-and-set;
``insert_flow`` honours the one-active-flow index; ``enqueue`` with a lease claims
only a due row that is its channel's only open one and never duplicates a key;
``mark_sent`` / ``mark_retry`` / ``mark_dead`` record what they say.

And that ``TxRunner`` runs a fast transaction on the event loop when SQLite is free,
in a thread when another process holds it (waiting for it, or raising SQLAlchemy's
``OperationalError`` when the busy timeout runs out) and always on PostgreSQL;
that a function needing the ORM is rolled back and re-run in a full transaction;
that ``WriteLock.acquire_async`` waits without blocking the loop; and that
``Tx.enqueue(claim=True)`` claims only with a lease. A failed COMMIT on the loop's
own connection leaves no transaction open, and two transactions queueing for one
channel at once on PostgreSQL claim one row between them.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from store import sql
from store.db import WriteLock, is_sqlite, make_engine, session_scope, write_lock
from store.migrate import upgrade
from store.models import (
    AuditEntry,
    Consultation,
    Decision,
    FlowSession,
    OutboxMessage,
    ProcessedEvent,
    Professional,
    Referral,
    TriageCard,
)
from store.runner import TxRunner
from store.tx import NeedsSession, Tx, write_tx

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 3, 2, 10, 15, 30, 123456, tzinfo=UTC)
BST = datetime(2026, 7, 1, 9, 30, tzinfo=LONDON)  # British Summer Time: UTC+1
BST_UTC = datetime(2026, 7, 1, 8, 30, tzinfo=UTC)  # the same instant
LATER = datetime(2026, 7, 1, 18, 45, 0, 654321, tzinfo=LONDON)
ANSWERS: dict[str, Any] = {
    "concern": "Zoë's worries at école",
    "categories": ["neglect", "emotional"],
    "detail": {"score": 3, "ok": True, "none": None, "items": [{"k": "ünïcode"}, 2.5]},
}
HISTORY = ["start", "consent", "categories"]
PAYLOAD: dict[str, Any] = {
    "channel": "C0TEST",
    "text": "Zoë: next question",
    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Zoë*"}}],
}
POST = "chat.postMessage"


# --- helpers -------------------------------------------------------------------------


def _outbox(engine: Engine, key: str) -> OutboxMessage:
    with session_scope(engine) as s:
        return s.exec(  # type: ignore[call-overload, no-any-return]
            select(OutboxMessage).where(OutboxMessage.idempotency_key == key)
        ).scalar_one()


def _outbox_keys(engine: Engine) -> list[str]:
    with session_scope(engine) as s:
        return sorted(s.exec(  # type: ignore[call-overload]
            select(OutboxMessage.idempotency_key)
        ).scalars())


def _event_ids(engine: Engine) -> list[str]:
    with session_scope(engine) as s:
        query = select(ProcessedEvent.event_id)
        return sorted(s.exec(query).scalars())  # type: ignore[call-overload]


def _raw(engine: Engine, table: str, row_id: int, columns: str) -> tuple[Any, ...]:
    """A row's stored values, read without the ORM's types (SQLite gives the text)."""
    with engine.connect() as conn:
        return tuple(conn.execute(
            text(f"SELECT {columns} FROM {table} WHERE id = :id"), {"id": row_id}
        ).one())


def _flow(s: Session, flow_id: int) -> FlowSession:
    row = s.get(FlowSession, flow_id)
    assert row is not None
    return row


def _sqlite_path(url: str) -> str:
    path = make_url(url).database
    assert path
    return path


@pytest.fixture
def blocker(sqlite_url: str) -> Iterator[sqlite3.Connection]:
    """Another process's connection to the (migrated) SQLite file, in autocommit mode."""
    eng = make_engine(sqlite_url)
    upgrade(eng)
    eng.dispose()
    conn = sqlite3.connect(_sqlite_path(sqlite_url), timeout=0, isolation_level=None)
    yield conn
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    conn.close()


def _held_by_another_thread(lock: WriteLock) -> bool:
    if lock.acquire(blocking=False):
        lock.release()
        return False
    return True


def _insert_event_raw(tx: Tx, event_id: str) -> None:
    """A plain INSERT (no ON CONFLICT): a second one with the same ID is a driver error."""
    tx.cx.execute("INSERT INTO processed_event (event_id, received_at) VALUES (:e, :at)",
                  {"e": event_id, "at": tx.cx.when(NOW)})


# --- 1. round trip ---------------------------------------------------------------------


def test_flow_written_by_sql_reads_back_through_the_orm(engine: Engine) -> None:
    with session_scope(engine, write=True) as s:
        cx = sql.Cx.of(s)
        flow_id = sql.insert_flow(cx, user_id="U0TEST1", kind="refer", state="start",
                                 now=NOW, expires_at=BST)
        assert flow_id is not None
    with session_scope(engine) as s:
        fresh = _flow(s, flow_id)
        assert (fresh.platform, fresh.user_id, fresh.kind, fresh.state, fresh.status) == (
            "slack", "U0TEST1", "refer", "start", "active")
        assert (fresh.answers, fresh.history, fresh.version) == ({}, [], 1)
        assert fresh.started_at == NOW and fresh.updated_at == NOW
        assert fresh.expires_at == BST_UTC and fresh.expires_at.utcoffset() == timedelta(0)
        assert fresh.ended_at is None and fresh.reference is None

    with session_scope(engine, write=True) as s:
        assert sql.save_flow(sql.Cx.of(s), flow_id, 1, {
            "state": "categories", "answers": ANSWERS, "history": HISTORY, "version": 2,
            "updated_at": BST, "expires_at": LATER,
        })
    with session_scope(engine) as s:
        saved = _flow(s, flow_id)
        got = sql.active_flow(sql.Cx.of(s), "U0TEST1")
    assert saved.answers == ANSWERS and saved.history == HISTORY
    assert saved.answers["concern"] == "Zoë's worries at école"
    assert (saved.state, saved.version) == ("categories", 2)
    assert saved.updated_at == BST_UTC and saved.updated_at.tzinfo == UTC
    assert saved.expires_at == LATER and saved.expires_at.utcoffset() == timedelta(0)
    assert saved.expires_at.hour == 17  # 18:45 BST is 17:45 UTC
    assert saved.started_at == NOW
    assert got == sql.FlowRow(id=flow_id, user_id="U0TEST1", kind="refer", state="categories",
                              answers=ANSWERS, history=HISTORY, version=2, expires_at=LATER)


def test_flow_written_by_the_orm_reads_back_through_sql(engine: Engine) -> None:
    with session_scope(engine, write=True) as s:
        s.add(FlowSession(user_id="U0TEST2", kind="refer", state="done", status="completed",
                          answers={"old": True}, history=["start"], version=9))
        row = FlowSession(user_id="U0TEST2", kind="consult", state="age_band",
                          answers=ANSWERS, history=HISTORY, version=4,
                          started_at=NOW, updated_at=BST, expires_at=LATER)
        s.add(row)
        s.flush()
        orm_id = row.id
    assert orm_id is not None
    with session_scope(engine) as s:
        got = sql.active_flow(sql.Cx.of(s), "U0TEST2")
        assert sql.active_flow(sql.Cx.of(s), "U0NOBODY") is None
    assert got == sql.FlowRow(id=orm_id, user_id="U0TEST2", kind="consult", state="age_band",
                              answers=ANSWERS, history=HISTORY, version=4, expires_at=LATER)
    assert got is not None and got.expires_at is not None
    assert got.expires_at.tzinfo == UTC and got.expires_at.hour == 17


def test_flow_values_are_stored_exactly_as_the_orm_stores_them(engine: Engine) -> None:
    """Same text on SQLite, where times are compared as text by the sweeps."""
    with session_scope(engine, write=True) as s:
        cx = sql.Cx.of(s)
        by_sql = sql.insert_flow(cx, user_id="U0TEST1", kind="refer", state="start",
                                 now=NOW, expires_at=BST)
        assert by_sql is not None
        assert sql.save_flow(cx, by_sql, 1, {"answers": ANSWERS, "history": HISTORY,
                                             "updated_at": LATER, "version": 2})
        row = FlowSession(user_id="U0TEST2", kind="refer", state="start",
                          answers=ANSWERS, history=HISTORY, version=2, started_at=NOW,
                          updated_at=LATER, expires_at=BST)
        s.add(row)
        s.flush()
        by_orm = row.id
    assert by_orm is not None
    columns = ("CAST(answers AS TEXT), CAST(history AS TEXT), started_at, updated_at, "
               "expires_at, ended_at")
    stored = _raw(engine, "flow_session", by_sql, columns)
    assert stored == _raw(engine, "flow_session", by_orm, columns)
    assert json.loads(stored[0]) == ANSWERS
    if is_sqlite(engine):
        assert stored[4] == "2026-07-01 08:30:00.000000"


def test_outbox_row_queued_by_sql_reads_back_through_the_orm(engine: Engine) -> None:
    with session_scope(engine, write=True) as s:
        assert sql.enqueue(sql.Cx.of(s), key="flow:1:q2", intent=POST, payload=PAYLOAD,
                           now=BST, not_before=LATER, subject_type="referral",
                           subject_id=7) is True
        s.add(OutboxMessage(idempotency_key="flow:1:q3", intent=POST, channel="C0TEST",
                            payload=PAYLOAD, next_attempt_at=LATER, subject_type="referral",
                            subject_id=7, created_at=BST))
    msg = _outbox(engine, "flow:1:q2")
    assert msg.payload == PAYLOAD and msg.channel == "C0TEST"  # channel from the payload
    assert (msg.intent, msg.status, msg.attempts) == (POST, "pending", 0)
    assert msg.next_attempt_at == LATER and msg.next_attempt_at.tzinfo == UTC
    assert msg.created_at == BST_UTC and msg.created_at.utcoffset() == timedelta(0)
    assert (msg.subject_type, msg.subject_id) == ("referral", 7)
    assert (msg.claimed_by, msg.claimed_until, msg.sent_at, msg.message_id, msg.last_error) == (
        None, None, None, None, None)
    columns = ("CAST(payload AS TEXT), channel, status, attempts, next_attempt_at, "
               "claimed_by, claimed_until, subject_type, subject_id, created_at")
    assert msg.id is not None
    assert _raw(engine, "outbox", msg.id, columns) == _raw(
        engine, "outbox", _outbox(engine, "flow:1:q3").id or 0, columns)


def test_claim_event_true_once_then_false(engine: Engine) -> None:
    with session_scope(engine, write=True) as s:
        cx = sql.Cx.of(s)
        assert sql.claim_event(cx, "Ev0TEST1", BST) is True
        assert sql.claim_event(cx, "Ev0TEST1", NOW) is False
    with session_scope(engine, write=True) as s:
        assert sql.claim_event(sql.Cx.of(s), "Ev0TEST1", NOW) is False
        assert sql.claim_event(sql.Cx.of(s), "Ev0TEST2", NOW) is True
    with session_scope(engine) as s:
        event = s.get(ProcessedEvent, "Ev0TEST1")
    assert event is not None and event.received_at == BST_UTC
    assert _event_ids(engine) == ["Ev0TEST1", "Ev0TEST2"]


def test_cx_of_follows_the_sessions_transaction(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as s:
        first = sql.Cx.of(s)
        assert sql.Cx.of(s) is first  # kept for the transaction
        assert sql.claim_event(first, "Ev0KEPT", NOW)
        s.commit()
        second = sql.Cx.of(s)  # a new transaction: asked again
        assert second is not first
        assert sql.claim_event(second, "Ev0UNDONE", NOW)
        s.rollback()
        assert sql.claim_event(sql.Cx.of(s), "Ev0ALSO", NOW)
        s.commit()
    assert _event_ids(engine) == ["Ev0ALSO", "Ev0KEPT"]


def test_audit_entries_read_back_through_the_orm(engine: Engine) -> None:
    old = {"rating": "amber", "by": "Zoë", "list": [3, 1], "a": None}
    with session_scope(engine, write=True) as s:
        cx = sql.Cx.of(s)
        sql.audit(cx, at=BST, actor="U0MANAGER", action="rating.change", subject_type="card",
                  subject_id=42, old=old, new=["red", 2], reason="new information: Zoë")
        sql.audit(cx, at=NOW, actor="system", action="flow.expire", subject_type="flow",
                  subject_id="F0TEST", old="active", new=None)
        sql.audit(cx, at=NOW, actor="system", action="card.breach", subject_type="card",
                  subject_id=42, old=3, new={"due": BST, "ok": False})
    with session_scope(engine) as s:
        query = select(AuditEntry).order_by(AuditEntry.id)  # type: ignore[arg-type]
        entries = list(s.exec(query).scalars())  # type: ignore[call-overload]
    first, second, third = entries
    assert (first.at, first.actor, first.action, first.subject_type, first.subject_id) == (
        BST_UTC, "U0MANAGER", "rating.change", "card", "42")
    assert first.old_value == json.dumps(old, sort_keys=True)
    assert first.old_value == '{"a": null, "by": "Zo\\u00eb", "list": [3, 1], "rating": "amber"}'
    assert first.new_value == '["red", 2]' and first.reason == "new information: Zoë"
    assert (second.old_value, second.new_value, second.reason) == ("active", None, None)
    assert second.subject_id == "F0TEST" and second.at == NOW
    assert third.old_value == "3"
    assert third.new_value == json.dumps({"due": str(BST), "ok": False}, sort_keys=True)


# --- 2. and 3. flows ---------------------------------------------------------------------


def test_save_flow_is_a_compare_and_set(engine: Engine) -> None:
    with session_scope(engine, write=True) as s:
        flow_id = sql.insert_flow(sql.Cx.of(s), user_id="U0TEST1", kind="consult",
                                  state="start", now=NOW, expires_at=BST)
    assert flow_id is not None
    with session_scope(engine, write=True) as s:
        assert sql.save_flow(sql.Cx.of(s), flow_id, 1, {
            "state": "age_band", "answers": {"a": 1}, "history": ["start"], "version": 2})
    with session_scope(engine, write=True) as s:
        cx = sql.Cx.of(s)
        assert sql.save_flow(cx, flow_id, 1, {  # stale: another click saved version 2
            "state": "stale", "answers": {"stale": True}, "history": [], "version": 2,
            "updated_at": LATER}) is False
        assert sql.save_flow(cx, 999_999, 1, {"state": "nowhere", "version": 2}) is False
    with session_scope(engine) as s:
        row = _flow(s, flow_id)
    assert (row.state, row.answers, row.history, row.version) == (
        "age_band", {"a": 1}, ["start"], 2)
    assert row.updated_at == NOW


def test_insert_flow_refuses_a_second_active_flow(engine: Engine) -> None:
    with session_scope(engine, write=True) as s:
        cx = sql.Cx.of(s)
        first = sql.insert_flow(cx, user_id="U0TEST1", kind="consult", state="start",
                                 now=NOW, expires_at=BST)
        assert first is not None
        assert sql.insert_flow(cx, user_id="U0TEST1", kind="refer", state="start",
                                 now=NOW, expires_at=BST) is None
        other = sql.insert_flow(cx, user_id="U0TEST2", kind="refer", state="start",
                                 now=NOW, expires_at=BST)
        assert other is not None  # the transaction is still usable after the conflict
    with session_scope(engine, write=True) as s:
        assert sql.insert_flow(sql.Cx.of(s), user_id="U0TEST1", kind="refer", state="start",
                               now=NOW, expires_at=BST) is None
    with session_scope(engine, write=True) as s:
        assert sql.save_flow(sql.Cx.of(s), first, 1, {
            "status": "completed", "ended_at": LATER, "version": 2})
    with session_scope(engine, write=True) as s:
        again = sql.insert_flow(sql.Cx.of(s), user_id="U0TEST1", kind="refer", state="start",
                                now=NOW, expires_at=BST)
    assert again is not None and again not in (first, other)
    with session_scope(engine) as s:
        mine = FlowSession.user_id == "U0TEST1"
        query = select(FlowSession).where(mine)  # type: ignore[arg-type]
        query = query.order_by(FlowSession.id)  # type: ignore[arg-type]
        rows = list(s.exec(query).scalars())  # type: ignore[call-overload]
        active = sql.active_flow(sql.Cx.of(s), "U0TEST1")
    assert [(r.id, r.status, r.kind) for r in rows] == [
        (first, "completed", "consult"), (again, "active", "refer")]
    assert rows[0].ended_at == LATER
    assert active is not None and active.id == again


# --- 4. and 5. outbox --------------------------------------------------------------------


def test_enqueue_with_a_lease_claims_only_a_due_channel_head(engine: Engine) -> None:
    lease = sql.Lease("worker-a", NOW + timedelta(seconds=60))
    with session_scope(engine, write=True) as s:
        cx = sql.Cx.of(s)
        first = sql.enqueue(cx, key="k1", intent=POST, payload=PAYLOAD, now=NOW,
                            subject_type="flow", subject_id=1, lease=lease)
        second = sql.enqueue(cx, key="k2", intent=POST, payload=PAYLOAD, now=NOW, lease=lease)
        future = sql.enqueue(cx, key="k3", intent=POST, channel="C0LATER",
                             payload={"text": "later"}, now=NOW,
                             not_before=NOW + timedelta(minutes=5), lease=lease)
        duplicate = sql.enqueue(cx, key="k1", intent=POST, channel="C0FREE",
                                payload={"text": "again"}, now=NOW, lease=lease)
    assert isinstance(first, sql.OutboxRow)
    assert first == sql.OutboxRow(id=first.id, idempotency_key="k1", intent=POST,
                                  channel="C0TEST", payload=PAYLOAD, status="pending",
                                  attempts=1, subject_type="flow", subject_id=1,
                                  created_at=NOW)
    assert (second, future, duplicate) == (True, True, False)

    claimed = _outbox(engine, "k1")
    assert claimed.id == first.id
    assert (claimed.status, claimed.claimed_by, claimed.attempts) == ("sending", "worker-a", 1)
    assert claimed.claimed_until == lease.until and claimed.next_attempt_at == NOW
    assert claimed.payload == PAYLOAD and claimed.channel == "C0TEST"
    queued = _outbox(engine, "k2")
    assert (queued.status, queued.claimed_by, queued.claimed_until, queued.attempts) == (
        "pending", None, None, 0)
    later = _outbox(engine, "k3")  # its channel is free, but it is not due
    assert (later.status, later.claimed_by, later.attempts) == ("pending", None, 0)
    assert later.next_attempt_at == NOW + timedelta(minutes=5)
    assert _outbox_keys(engine) == ["k1", "k2", "k3"]  # the duplicate wrote nothing
    with session_scope(engine) as s:
        assert s.exec(select(OutboxMessage).where(  # type: ignore[call-overload]
            OutboxMessage.channel == "C0FREE")).first() is None


def test_enqueue_with_a_lease_claims_again_once_the_channel_is_closed(engine: Engine) -> None:
    lease = sql.Lease("worker-a", NOW + timedelta(seconds=60))
    with session_scope(engine, write=True) as s:
        cx = sql.Cx.of(s)
        first = sql.enqueue(cx, key="k1", intent=POST, payload=PAYLOAD, now=NOW, lease=lease)
        assert isinstance(first, sql.OutboxRow)
        sql.mark_sent(cx, "worker-a", NOW, [(first.id, "1767225600.000100", None)])
        due_now = sql.enqueue(cx, key="k2", intent=POST, payload=PAYLOAD, now=NOW,
                              not_before=NOW, lease=lease)
        assert isinstance(due_now, sql.OutboxRow)  # not_before == now is due
        assert sql.enqueue(cx, key="k3", intent=POST, payload=PAYLOAD, now=NOW) is True


def test_rows_the_lease_says_are_delivered_no_longer_hold_their_channel(
    engine: Engine,
) -> None:
    delivered: set[int] = set()
    lease = sql.Lease("worker-a", NOW + timedelta(seconds=60), delivered)
    with session_scope(engine, write=True) as s:
        cx = sql.Cx.of(s)
        q1 = sql.enqueue(cx, key="q1", intent=POST, payload=PAYLOAD, now=NOW, lease=lease)
        assert isinstance(q1, sql.OutboxRow)
        # Sent, not yet recorded, and not said to be delivered: q2 waits for the sweep.
        assert sql.enqueue(cx, key="q2", intent=POST, payload=PAYLOAD, now=NOW,
                           lease=lease) is True
        delivered.add(q1.id)  # q2 still holds the channel
        assert sql.enqueue(cx, key="q3", intent=POST, payload=PAYLOAD, now=NOW,
                           lease=lease) is True
        cx.execute("DELETE FROM outbox WHERE idempotency_key IN ('q2', 'q3')", {})
        q4 = sql.enqueue(cx, key="q4", intent=POST, payload=PAYLOAD, now=NOW, lease=lease)
        assert isinstance(q4, sql.OutboxRow)  # only q1 is open, and it is delivered
    assert _outbox(engine, "q1").status == "sending"
    assert (_outbox(engine, "q4").status, _outbox(engine, "q4").claimed_by) == (
        "sending", "worker-a")


def test_mark_sent_retry_and_dead(engine: Engine) -> None:
    lease_a = sql.Lease("worker-a", NOW + timedelta(seconds=60))
    lease_b = sql.Lease("worker-b", NOW + timedelta(seconds=60))
    sent_at = NOW + timedelta(seconds=1)
    with session_scope(engine, write=True) as s:
        cx = sql.Cx.of(s)
        a = sql.enqueue(cx, key="a", intent=POST, channel="C0A", payload={"t": 1}, now=NOW,
                        lease=lease_a)
        b = sql.enqueue(cx, key="b", intent=POST, channel="C0B", payload={"t": 2}, now=NOW,
                        lease=lease_b)
        c = sql.enqueue(cx, key="c", intent=POST, channel="C0C", payload={"t": 3}, now=NOW)
        d = sql.enqueue(cx, key="d", intent=POST, channel="C0D", payload={"t": 4}, now=NOW,
                        lease=lease_a)
        assert isinstance(a, sql.OutboxRow) and isinstance(b, sql.OutboxRow)
        assert isinstance(d, sql.OutboxRow) and c is True
        c_id = _outbox_id_in(s, "c")
        sql.mark_sent(cx, "worker-a", sent_at, [
            (a.id, "1767225600.000100", None),
            (b.id, "1767225600.000200", "not mine"),  # claimed by worker-b
            (c_id, "1767225600.000300", "not claimed"),
        ])
        sql.mark_sent(cx, "worker-a", sent_at, [])
    row_a, row_b, row_c = _outbox(engine, "a"), _outbox(engine, "b"), _outbox(engine, "c")
    assert (row_a.status, row_a.message_id, row_a.sent_at, row_a.claimed_until) == (
        "sent", "1767225600.000100", sent_at, None)
    assert (row_a.claimed_by, row_a.attempts, row_a.last_error) == ("worker-a", 1, None)
    assert (row_b.status, row_b.claimed_by, row_b.message_id, row_b.sent_at) == (
        "sending", "worker-b", None, None)
    assert row_b.claimed_until == lease_b.until
    assert (row_c.status, row_c.message_id, row_c.sent_at) == ("pending", None, None)

    retry_at = datetime(2026, 7, 1, 10, 0, tzinfo=LONDON)
    with session_scope(engine, write=True) as s:
        cx = sql.Cx.of(s)
        e = sql.enqueue(cx, key="e", intent=POST, channel="C0E", payload={"t": 5}, now=NOW,
                        lease=lease_a)
        assert isinstance(e, sql.OutboxRow)
        # A sender whose lease ran out cannot move a row another sender has claimed.
        sql.mark_retry(cx, "worker-a", b.id, retry_at, "stale", counts=True)
        assert sql.mark_dead(cx, "worker-a", b.id, "stale") is False
        assert sql.mark_dead(cx, "worker-a", c_id, "not claimed") is False
        sql.mark_retry(cx, "worker-b", b.id, retry_at, "waiting", counts=False)
        sql.mark_retry(cx, "worker-a", d.id, retry_at, "ratelimited " + "x" * 600, counts=True)
        assert sql.mark_dead(cx, "worker-a", e.id, "channel_not_found " + "y" * 600) is True
    row_b, row_c, row_d = _outbox(engine, "b"), _outbox(engine, "c"), _outbox(engine, "d")
    row_e = _outbox(engine, "e")
    assert (row_b.status, row_b.attempts, row_b.last_error, row_b.claimed_until) == (
        "pending", 0, "waiting", None)  # the attempt was given back
    assert row_b.next_attempt_at == retry_at and row_b.next_attempt_at.hour == 9
    assert (row_d.status, row_d.attempts, row_d.claimed_until) == ("pending", 1, None)
    assert row_d.last_error == ("ratelimited " + "x" * 600)[:500]
    assert (row_c.status, row_c.last_error) == ("pending", None)
    assert (row_e.status, row_e.claimed_until, row_e.attempts) == ("dead", None, 1)
    assert row_e.last_error == ("channel_not_found " + "y" * 600)[:500]


def _outbox_id_in(s: Session, key: str) -> int:
    return int(s.exec(select(OutboxMessage.id).where(  # type: ignore[call-overload]
        OutboxMessage.idempotency_key == key)).scalar_one())


def test_enqueue_with_a_lease_claims_one_row_per_channel_under_concurrency(
    postgres_url: str,
) -> None:
    """On PostgreSQL two transactions may queue for one channel at once: only one claims.

    Transaction A queues first and holds its transaction open until B is seen waiting
    for the channel; B then finds A's row and queues its own row pending.
    """
    eng = make_engine(postgres_url)
    upgrade(eng)
    a_queued = threading.Event()
    got: dict[str, object] = {}

    def second() -> None:
        a_queued.wait(10)
        with session_scope(eng, write=True) as b:
            got["b"] = sql.enqueue(sql.Cx.of(b), key="card:2:post", intent=POST,
                                   payload=PAYLOAD, now=NOW,
                                   lease=sql.Lease("worker-b", NOW + timedelta(seconds=60)))

    try:
        thread = threading.Thread(target=second)
        thread.start()
        with session_scope(eng, write=True) as a:
            got["a"] = sql.enqueue(sql.Cx.of(a), key="card:1:post", intent=POST,
                                   payload=PAYLOAD, now=NOW,
                                   lease=sql.Lease("worker-a", NOW + timedelta(seconds=60)))
            a_queued.set()
            _until_a_backend_waits_for_a_lock(eng)
        thread.join(10)
        with session_scope(eng) as s:
            head = (OutboxMessage.channel == "C0TEST", OutboxMessage.status == "sending")
            query = select(OutboxMessage.idempotency_key).where(*head)  # type: ignore[arg-type]
            sending = list(s.exec(query).scalars())  # type: ignore[call-overload]
        assert isinstance(got["a"], sql.OutboxRow) and got["b"] is True
        assert sending == ["card:1:post"]
    finally:
        eng.dispose()


def _until_a_backend_waits_for_a_lock(eng: Engine, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    with eng.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'")).scalar_one()
            conn.rollback()
            if waiting:
                return
    raise AssertionError("the second transaction never waited for the channel")


# --- 8. Tx ---------------------------------------------------------------------------------


def test_tx_enqueue_claims_only_with_a_lease(engine: Engine) -> None:
    with write_tx(engine) as tx:
        assert tx.lease is None and tx.full
        assert tx.enqueue(key="nolease", intent=POST, payload=PAYLOAD, claim=True) is True
        assert (tx.queued, tx.claimed) == (1, [])
    lease = sql.Lease("worker-a", datetime.now(UTC) + timedelta(seconds=60))
    with write_tx(engine, lease=lease) as tx:
        assert tx.enqueue(key="lease-1", intent=POST, channel="C0OTHER",
                          payload={"text": "first"}, claim=True) is True
        assert tx.queued == 0 and [r.idempotency_key for r in tx.claimed] == ["lease-1"]
        assert tx.claimed[0].channel == "C0OTHER" and tx.claimed[0].attempts == 1
        assert tx.enqueue(key="lease-2", intent=POST, channel="C0OTHER",
                          payload={"text": "second"}, claim=True) is True  # channel busy
        assert tx.enqueue(key="noclaim", intent=POST, channel="C0THIRD",
                          payload={"text": "third"}) is True  # claim=False
        assert tx.enqueue(key="lease-1", intent=POST, channel="C0FOURTH",
                          payload={"text": "again"}, claim=True) is False
        assert tx.queued == 2 and len(tx.claimed) == 1
    assert _outbox(engine, "nolease").status == "pending"
    assert (_outbox(engine, "lease-1").status, _outbox(engine, "lease-1").claimed_by) == (
        "sending", "worker-a")
    assert [_outbox(engine, k).status for k in ("lease-2", "noclaim")] == ["pending", "pending"]
    assert _outbox_keys(engine) == ["lease-1", "lease-2", "noclaim", "nolease"]


def test_a_row_is_not_claimed_past_one_in_flight_elsewhere_among_many(engine: Engine) -> None:
    # Four rows this process delivered but has not recorded, and a fifth another sender
    # is sending: the next row must wait behind the fifth, however many come before it
    # (the check once saw only four open rows, in no set order).
    until = datetime.now(UTC) + timedelta(seconds=60)
    ids: list[int] = []
    for n in range(5):  # each claimed behind the ones before, as if they were delivered
        lease = sql.Lease("worker-b" if n == 4 else "worker-a", until, frozenset(ids))
        with write_tx(engine, lease=lease) as tx:
            tx.enqueue(key=f"sent-{n}", intent=POST, channel="C0BUSY", payload=PAYLOAD,
                       claim=True)
            ids.append(tx.claimed[0].id)
    delivered = sql.Lease("worker-a", until, frozenset(ids[:4]))
    with write_tx(engine, lease=delivered) as tx:
        assert tx.enqueue(key="next", intent=POST, channel="C0BUSY", payload=PAYLOAD,
                          claim=True) is True
        assert tx.claimed == []  # left to the sweep, in its channel's order
    assert _outbox(engine, "next").status == "pending"


def test_full_tx_statements_see_pending_orm_changes(engine: Engine) -> None:
    with write_tx(engine) as tx:
        tx.session.add(FlowSession(user_id="U0TEST3", kind="consult", state="start",
                                   answers={"who": "Zoë"}, version=1, expires_at=BST))
        got = sql.active_flow(tx.cx, "U0TEST3")  # flushed first
        assert got is not None and got.answers == {"who": "Zoë"} and got.expires_at == BST
        tx.audit(actor="U0TEST3", action="flow.start", subject_type="flow", subject_id=got.id)
        assert tx.claim_event("Ev0TEST3") is True
    with session_scope(engine) as s:
        assert s.get(FlowSession, got.id) is not None
        entry = s.exec(select(AuditEntry)).scalar_one()  # type: ignore[call-overload]
        assert entry.subject_id == str(got.id)
    assert _event_ids(engine) == ["Ev0TEST3"]


def test_whole_records_written_by_sql_read_back_through_the_orm(engine: Engine) -> None:
    """``sql.insert`` / ``load`` / ``update``: what a finished flow writes (a referral and
    its card, a consultation) is what the ORM reads, and the other way round."""
    with session_scope(engine, write=True) as s:
        cx = sql.Cx.of(s)
        pid = sql.professional(cx, "U0TEST1", {"role": "Teacher"}, NOW)
        referral = Referral(reference="FD-2026-000001", professional_id=pid,
                            categories=["neglect", "école"], summary={"answers": {"a": [1, 2]}},
                            consent_status="given", completeness=80, gaps=["voice"],
                            phone_referral=True, phoned_at=BST, created_at=BST,
                            last_contact_at=BST)
        rid = sql.insert(cx, referral)
        card = TriageCard(referral_id=rid, reference=referral.reference,
                          referrer_user_id="U0TEST1", suggested_rating="amber_sh",
                          suggested_reasons=[{"rule": "R-x", "text": "Zoë", "source": "s"}],
                          received_at=BST)
        cid = sql.insert(cx, card)
        sql.update(cx, TriageCard, cid, clock="contact_decision", due_at=LATER)
        consultation = Consultation(reference="FD-2026-000002", professional_id=pid,
                                    categories=[], summary={}, suggested_outcome="advice_only",
                                    created_at=NOW, last_contact_at=NOW)
        sql.insert(cx, consultation)
        assert (referral.id, card.id) == (rid, cid) and consultation.id is not None
    with session_scope(engine) as s:
        got_r = s.get(Referral, rid)
        got_c = s.get(TriageCard, cid)
        assert got_r is not None and got_c is not None
        for name in ("reference", "categories", "summary", "consent_status", "completeness",
                     "gaps", "phone_referral", "phoned_at", "created_at"):
            assert getattr(got_r, name) == getattr(referral, name), name
        assert got_r.phoned_at == BST_UTC and got_r.phone_referral is True
        assert (got_c.clock, got_c.due_at) == ("contact_decision", LATER)
        assert got_c.suggested_reasons == card.suggested_reasons and not got_c.breached
        assert s.get(Professional, pid).role == "Teacher"  # type: ignore[union-attr]
        s.add(Decision(card_id=cid, actor="U0MANAGER", at=NOW, action="approve",
                       new_rating="amber_sh"))
        got_c.breached, got_c.info_requested = True, False
        s.add(got_c)
        s.commit()
    with session_scope(engine) as s:
        cx = sql.Cx.of(s)
        loaded = sql.load(cx, TriageCard, cid)
        assert loaded is not None and loaded.breached is True and loaded.info_requested is False
        assert loaded.due_at == LATER and loaded.received_at == BST_UTC
        assert loaded.suggested_reasons == card.suggested_reasons
        assert sql.load(cx, Referral, rid) == s.get(Referral, rid)
        assert sql.load(cx, TriageCard, 999_999) is None


async def test_a_turn_commits_many_requests_at_once_and_a_failure_only_undoes_its_own(
    sqlite_engine: Engine,
) -> None:
    runner = TxRunner(sqlite_engine)

    def queue(key: str) -> Callable[[Tx], str]:
        def act(tx: Tx) -> str:
            tx.enqueue(key=key, intent=POST, payload=PAYLOAD)
            if key == "bad":
                raise ValueError("this request's own mistake")
            return key
        return act

    try:
        results = await asyncio.gather(*(runner.run(queue(k)) for k in ("a", "bad", "c")),
                                       return_exceptions=True)
        assert [r[0] if isinstance(r, tuple) else type(r).__name__ for r in results] == [
            "a", "ValueError", "c"]
        assert runner.turns == 1 and runner.on_loop == 2  # one commit for the three
        assert _outbox_keys(sqlite_engine) == ["a", "c"]  # the failed one left nothing
    finally:
        runner.close()


# --- 6. TxRunner ---------------------------------------------------------------------------


async def test_runner_fast_transaction_runs_on_the_loop_and_commits(
    sqlite_engine: Engine,
) -> None:
    runner = TxRunner(sqlite_engine)
    lease = sql.Lease("worker-a", datetime.now(UTC) + timedelta(seconds=60))
    threads: list[int] = []

    def act(tx: Tx) -> str:
        threads.append(threading.get_ident())
        assert not tx.full and tx.lease == lease
        assert tx.claim_event("Ev0TEST1")
        tx.enqueue(key="q1", intent=POST, payload=PAYLOAD, claim=True)
        tx.enqueue(key="q2", intent=POST, payload=PAYLOAD, claim=True)
        return "done"

    try:
        result, tx = await runner.run(act, lease=lease)
        assert result == "done"
        assert (runner.on_loop, runner.in_thread, runner.full) == (1, 0, 0)
        assert threads == [threading.get_ident()]  # on the loop's own thread
        assert [r.idempotency_key for r in tx.claimed] == ["q1"] and tx.queued == 1
        assert _event_ids(sqlite_engine) == ["Ev0TEST1"]  # committed: another session sees it
        assert _outbox(sqlite_engine, "q1").status == "sending"
        result, _ = await runner.run(lambda tx: tx.claim_event("Ev0TEST1"))
        assert result is False and runner.on_loop == 2
    finally:
        runner.close()


async def test_runner_reruns_in_a_full_transaction_when_the_orm_is_needed(
    engine: Engine,
) -> None:
    runner = TxRunner(engine)
    seen: list[bool] = []

    def act(tx: Tx) -> int:
        seen.append(tx.full)
        n = len(seen)
        tx.enqueue(key=f"attempt-{n}", intent=POST, payload=PAYLOAD)
        assert tx.claim_event(f"Ev0TRY{n}")
        session = tx.session  # raises NeedsSession in a fast transaction
        session.add(ProcessedEvent(event_id="Ev0ORM", received_at=NOW))
        return n

    try:
        result, tx = await runner.run(act)
    finally:
        runner.close()
    assert seen == [False, True] and result == 2 and tx.full
    assert runner.full == 1 and runner.on_loop == 0
    # Nothing the fast attempt wrote before it asked for the session remains.
    assert _outbox_keys(engine) == ["attempt-2"]
    assert _event_ids(engine) == ["Ev0ORM", "Ev0TRY2"]


async def test_runner_runs_the_full_function_when_given(sqlite_engine: Engine) -> None:
    runner = TxRunner(sqlite_engine)

    def fast(tx: Tx) -> str:
        tx.claim_event("Ev0FAST")
        raise NeedsSession

    def full(tx: Tx) -> str:
        tx.session.add(ProcessedEvent(event_id="Ev0FULL", received_at=NOW))
        return "full"

    try:
        result, tx = await runner.run(fast, full)
    finally:
        runner.close()
    assert result == "full" and tx.full and runner.full == 1
    assert _event_ids(sqlite_engine) == ["Ev0FULL"]


async def test_runner_rolls_back_and_raises_other_exceptions(engine: Engine) -> None:
    runner = TxRunner(engine)

    def boom(tx: Tx) -> None:
        tx.claim_event("Ev0BOOM")
        tx.enqueue(key="boom", intent=POST, payload=PAYLOAD)
        raise ValueError("no such answer")

    def duplicate(tx: Tx) -> None:
        tx.enqueue(key="dup", intent=POST, payload=PAYLOAD)
        _insert_event_raw(tx, "Ev0DUP")
        _insert_event_raw(tx, "Ev0DUP")

    try:
        with pytest.raises(ValueError, match="no such answer"):
            await runner.run(boom)
        with pytest.raises(IntegrityError) as err:  # the driver's error, as SQLAlchemy's
            await runner.run(duplicate)
        assert runner.full == 0 and runner.on_loop == 0
        result, _ = await runner.run(lambda tx: tx.claim_event("Ev0AFTER"))  # still usable
    finally:
        runner.close()
    assert err.value.statement is None and err.value.params is None
    assert result is True
    assert _outbox_keys(engine) == [] and _event_ids(engine) == ["Ev0AFTER"]


async def test_runner_waits_in_a_thread_while_another_process_holds_sqlite(
    sqlite_url: str, blocker: sqlite3.Connection,
) -> None:
    eng = make_engine(sqlite_url)
    runner = TxRunner(eng)
    lock = write_lock(eng)
    ran = threading.Event()
    threads: list[int] = []
    loop = asyncio.get_running_loop()
    in_thread = asyncio.Event()

    def checked_out(*_: object) -> None:
        # A pool checkout off the loop's thread is the fast transaction's thread taking
        # its connection, under this process's write lock, just before BEGIN IMMEDIATE.
        if threading.get_ident() != loop_thread:
            loop.call_soon_threadsafe(in_thread.set)

    loop_thread = threading.get_ident()
    event.listen(eng, "checkout", checked_out)

    def act(tx: Tx) -> bool:
        ran.set()
        threads.append(threading.get_ident())
        return tx.claim_event("Ev0BLOCK")  # the blocker's row, committed before this ran

    async def release() -> None:
        # The work has gone to a thread, which holds this process's write lock while it
        # waits on SQLite's busy handler for the other process.
        await asyncio.wait_for(in_thread.wait(), timeout=10)
        assert runner.in_thread == 1 and _held_by_another_thread(lock)
        assert not ran.is_set()
        blocker.execute("INSERT INTO processed_event (event_id, received_at) "
                        "VALUES ('Ev0BLOCK', '2026-03-02 10:15:30.123456')")
        blocker.execute("COMMIT")

    blocker.execute("BEGIN EXCLUSIVE")
    try:
        (result, _), _ = await asyncio.wait_for(
            asyncio.gather(runner.run(act), release()), timeout=20)
        assert result is False
        assert threads and threads != [threading.get_ident()]
        assert (runner.on_loop, runner.in_thread, runner.full) == (0, 1, 0)
        result, _ = await runner.run(lambda tx: tx.claim_event("Ev0FREE"))  # free again
        assert result is True and runner.on_loop == 1
    finally:
        runner.close()
        eng.dispose()


async def test_runner_raises_sqlalchemy_operational_error_after_the_busy_timeout(
    sqlite_url: str, blocker: sqlite3.Connection,
) -> None:
    eng = make_engine(sqlite_url + "?timeout=0.2")
    runner = TxRunner(eng)
    ran: list[bool] = []

    def act(tx: Tx) -> bool:
        ran.append(True)
        return tx.claim_event("Ev0LATE")

    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(OperationalError) as err:
            await runner.run(act)
        blocker.execute("ROLLBACK")
        assert not isinstance(err.value, sqlite3.Error)
        assert isinstance(err.value.orig, sqlite3.OperationalError)
        assert "locked" in str(err.value.orig) and err.value.statement is None
        assert ran == [] and (runner.on_loop, runner.in_thread, runner.full) == (0, 1, 0)
        result, _ = await runner.run(act)  # the lock and the pool are left usable
        assert result is True and ran == [True] and runner.on_loop == 1
    finally:
        runner.close()
        eng.dispose()


async def test_runner_on_postgresql_runs_in_a_thread_and_commits(postgres_url: str) -> None:
    eng = make_engine(postgres_url)
    upgrade(eng)
    runner = TxRunner(eng)
    threads: list[int] = []
    lease = sql.Lease("worker-a", datetime.now(UTC) + timedelta(seconds=60))

    def act(tx: Tx) -> int | None:
        threads.append(threading.get_ident())
        assert not tx.full
        flow_id = sql.insert_flow(tx.cx, user_id="U0TEST1", kind="consult", state="start",
                                 now=NOW, expires_at=BST)
        tx.enqueue(key="pg-1", intent=POST, payload=PAYLOAD, claim=True)
        return flow_id

    try:
        flow_id, tx = await runner.run(act, lease=lease)
        assert (runner.on_loop, runner.in_thread, runner.full) == (0, 1, 0)
        assert threads and threads != [threading.get_ident()]
        assert [r.idempotency_key for r in tx.claimed] == ["pg-1"]
        assert flow_id is not None
        with session_scope(eng) as s:
            assert _flow(s, flow_id).expires_at == BST_UTC
        assert _outbox(eng, "pg-1").claimed_by == "worker-a"
    finally:
        runner.close()
        eng.dispose()


async def test_a_failed_commit_on_the_loop_leaves_no_transaction_open(
    sqlite_url: str, blocker: sqlite3.Connection,
) -> None:
    eng = make_engine(sqlite_url)
    runner = TxRunner(eng)

    def violate(tx: Tx) -> None:
        tx.cx.execute("PRAGMA defer_foreign_keys = ON", {})  # checked at COMMIT
        tx.cx.execute(
            "INSERT INTO decision (card_id, actor, at, action, new_rating) "
            "VALUES (999999, 'U0TEST1', :at, 'approve', 'red')", {"at": tx.cx.when(NOW)})

    try:
        with pytest.raises(IntegrityError):
            await runner.run(violate)
        assert runner.on_loop == 0
        try:  # another process can write at once
            blocker.execute("BEGIN IMMEDIATE")
            blocker.execute("ROLLBACK")
            others_can_write = True
        except sqlite3.OperationalError:
            others_can_write = False
        try:
            await runner.run(lambda tx: tx.claim_event("Ev0AFTER"))
            next_ok: object = True
        except OperationalError as exc:
            next_ok = str(exc.orig)
        assert (others_can_write, next_ok) == (True, True)
    finally:
        runner.close()
        eng.dispose()


# --- 7. WriteLock, close ---------------------------------------------------------------------


async def test_write_lock_acquire_async_waits_without_blocking_the_loop() -> None:
    lock = WriteLock()
    held = threading.Event()
    let_go = threading.Event()

    def holder() -> None:
        with lock:
            held.set()
            let_go.wait(20)

    def try_take() -> bool:  # from another thread: an RLock is released by its owner
        if lock.acquire(blocking=False):
            lock.release()
            return True
        return False

    thread = threading.Thread(target=holder)
    thread.start()
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    ticking = asyncio.create_task(ticker())
    try:
        assert await asyncio.to_thread(held.wait, 10)
        waiter = asyncio.create_task(lock.acquire_async())
        before = ticks
        for _ in range(50):  # hand the loop over: the ticker runs, the waiter waits
            await asyncio.sleep(0)
        assert ticks >= before + 49  # the loop was never blocked
        assert not waiter.done()
        let_go.set()
        await asyncio.wait_for(waiter, timeout=10)
        assert let_go.is_set()
        assert await asyncio.to_thread(try_take) is False  # the loop's thread holds it
        lock.release()
        assert await asyncio.to_thread(try_take) is True
    finally:
        let_go.set()
        stop.set()
        await ticking
        await asyncio.to_thread(thread.join, 10)
    assert not thread.is_alive()


async def test_runner_close_closes_the_loops_connection(sqlite_engine: Engine) -> None:
    runner = TxRunner(sqlite_engine)
    await runner.run(lambda tx: tx.claim_event("Ev0ONE"))
    conn = runner._loop_cx
    assert isinstance(conn, sqlite3.Connection)
    runner.close()
    assert runner._loop_cx is None
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT 1")
    runner.close()  # twice is harmless
    result, _ = await runner.run(lambda tx: tx.claim_event("Ev0TWO"))  # a new connection
    assert result is True and runner.on_loop == 2
    assert runner._loop_cx is not None and runner._loop_cx is not conn
    runner.close()
    assert _event_ids(sqlite_engine) == ["Ev0ONE", "Ev0TWO"]


# --- 7. The write-ahead log ----------------------------------------------------------------


async def _turns_writing(runner: TxRunner, n: int) -> None:
    big = {**PAYLOAD, "text": "x" * 3000}  # about a page a turn

    for i in range(n):
        await runner.run(lambda tx, i=i: tx.enqueue(key=f"wal-{i}", intent=POST, payload=big))
    if runner._checkpointing is not None:
        await runner._checkpointing


def _wal_pages(engine: Engine) -> int:
    """The most pages the WAL has held (SQLite reuses the file from its start)."""
    path = _sqlite_path(str(engine.url)) + "-wal"
    return max(0, os.path.getsize(path) - 32) // (24 + 4096)


async def test_the_loop_leaves_checkpoints_to_a_thread_and_the_wal_stays_short(
    sqlite_engine: Engine,
) -> None:
    runner = TxRunner(sqlite_engine)
    runner.checkpoint_turns = 25
    try:
        await _turns_writing(runner, 1500)
        assert runner.checkpoints >= 1500 // 25 // 2  # some turns find one still copying
        assert _wal_pages(sqlite_engine) < 400  # started afresh after each
        assert len(_outbox_keys(sqlite_engine)) == 1500
    finally:
        runner.close()


async def test_without_thread_checkpoints_the_loop_does_not_checkpoint_at_sqlites_1000_pages(
    sqlite_engine: Engine,
) -> None:
    runner = TxRunner(sqlite_engine)
    runner.checkpoint_turns = 10**9
    try:
        await _turns_writing(runner, 1500)
        assert runner.checkpoints == 0 and _wal_pages(sqlite_engine) > 1200
    finally:
        runner.close()


async def test_the_loops_backstop_bounds_the_wal_when_threads_do_not(
    sqlite_engine: Engine,
) -> None:
    runner = TxRunner(sqlite_engine)
    runner.checkpoint_turns, runner.wal_backstop = 10**9, 300
    try:
        await _turns_writing(runner, 1500)
        assert runner.checkpoints == 0 and 300 <= _wal_pages(sqlite_engine) < 330
    finally:
        runner.close()
