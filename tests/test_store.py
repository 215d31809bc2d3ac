"""The store on SQLite and PostgreSQL: migrations, references, audit, idempotency."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from store import repo
from store.db import make_engine, session_scope
from store.migrate import current_revision, head_revision, upgrade
from store.models import AuditEntry, FlowSession, OutboxMessage, Reminder

EXPECTED_TABLES = {
    "professional", "reference_counter", "flow_session", "consultation", "referral",
    "triage_card", "decision", "reminder", "outbox", "caf_episode", "caf_meeting",
    "processed_event", "request_replay", "audit",
}


def test_upgrade_creates_schema_and_is_idempotent(db_url: str) -> None:
    eng = make_engine(db_url)
    assert current_revision(eng) is None
    assert upgrade(eng) == head_revision()
    tables = set(inspect(eng).get_table_names())
    assert EXPECTED_TABLES <= tables
    before = _schema(eng)
    assert upgrade(eng) == head_revision()  # the second run changes nothing
    assert _schema(eng) == before
    eng.dispose()


def _schema(eng: Engine) -> dict[str, object]:
    insp = inspect(eng)
    return {
        t: (
            sorted(c["name"] for c in insp.get_columns(t)),
            sorted(str(i["name"]) for i in insp.get_indexes(t)),
        )
        for t in insp.get_table_names()
    }


def test_hot_indexes_exist(engine: Engine) -> None:
    insp = inspect(engine)
    reminder = {i["name"]: i["column_names"] for i in insp.get_indexes("reminder")}
    outbox = {i["name"]: i["column_names"] for i in insp.get_indexes("outbox")}
    assert reminder["ix_reminder_status_due"] == ["status", "due_at"]
    assert outbox["ix_outbox_status_next"] == ["status", "next_attempt_at"]


def test_references_are_sequential_per_year(engine: Engine) -> None:
    when = datetime(2026, 3, 1, tzinfo=UTC)
    with session_scope(engine, write=True) as s:
        first = repo.next_reference(s, when)
        second = repo.next_reference(s, when)
    with session_scope(engine, write=True) as s:
        other_year = repo.next_reference(s, datetime(2027, 1, 1, tzinfo=UTC))
    assert (first, second, other_year) == ("FD-2026-000001", "FD-2026-000002", "FD-2027-000001")


def test_references_unique_under_concurrency(engine: Engine) -> None:
    issued: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            with session_scope(engine, write=True) as s:
                ref = repo.next_reference(s)
            with lock:
                issued.append(ref)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(issued) == 40 and len(set(issued)) == 40


def test_times_round_trip_as_aware_utc(engine: Engine) -> None:
    london = datetime(2026, 7, 1, 9, 30, tzinfo=ZoneInfo("Europe/London"))
    with session_scope(engine, write=True) as s:
        repo.schedule(s, key="k1", kind="sla_warning", subject_type="card", subject_id=1,
                      due_at=london)
    with session_scope(engine) as s:
        row = s.exec(select(Reminder)).scalar_one()  # type: ignore[call-overload]
    assert row.due_at.tzinfo is not None
    assert row.due_at == london  # same instant
    assert row.due_at.utcoffset() == timedelta(0)


def test_naive_datetime_is_refused(engine: Engine) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        with session_scope(engine, write=True) as s:
            s.add(FlowSession(user_id="U1", kind="consult", state="start",
                              expires_at=datetime(2026, 1, 1, 9, 0)))
            s.flush()


def test_one_active_flow_per_user(engine: Engine) -> None:
    with session_scope(engine, write=True) as s:
        s.add(FlowSession(user_id="U1", kind="consult", state="a"))
        s.add(FlowSession(user_id="U1", kind="consult", state="a", status="completed"))
    with pytest.raises(IntegrityError):
        with session_scope(engine, write=True) as s:
            s.add(FlowSession(user_id="U1", kind="refer", state="a"))


def test_event_claimed_once(engine: Engine) -> None:
    with session_scope(engine, write=True) as s:
        assert repo.claim_event(s, "Ev123") is True
    with session_scope(engine, write=True) as s:
        assert repo.claim_event(s, "Ev123") is False


def test_outbox_and_reminders_deduplicate_by_key(engine: Engine) -> None:
    due = datetime(2026, 5, 5, 12, tzinfo=UTC)
    with session_scope(engine, write=True) as s:
        assert repo.enqueue(s, key="card:1:post", intent="chat.postMessage",
                            payload={"channel": "C1", "text": "hi"})
        assert not repo.enqueue(s, key="card:1:post", intent="chat.postMessage",
                                payload={"channel": "C1", "text": "hi"})
        assert repo.schedule(s, key="card:1:warn:0.5", kind="sla_warning", subject_type="card",
                             subject_id=1, due_at=due)
        assert not repo.schedule(s, key="card:1:warn:0.5", kind="sla_warning",
                                 subject_type="card", subject_id=1, due_at=due)
    with session_scope(engine) as s:
        assert len(s.exec(select(OutboxMessage)).all()) == 1  # type: ignore[call-overload]
        assert len(s.exec(select(Reminder)).all()) == 1  # type: ignore[call-overload]
    with session_scope(engine, write=True) as s:
        assert repo.stop_all(s, subject_type="card", subject_id=1) == 1
        assert repo.stop_all(s, subject_type="card", subject_id=1) == 0


def test_audit_is_append_only(engine: Engine) -> None:
    with session_scope(engine, write=True) as s:
        repo.audit(s, actor="U0MANAGER", action="rating.change", subject_type="card",
                   subject_id=7, old="amber_cin", new="amber_sh", reason="new information")
    with session_scope(engine) as s:
        entry = s.exec(select(AuditEntry)).scalar_one()  # type: ignore[call-overload]
    assert (entry.old_value, entry.new_value, entry.reason) == (
        "amber_cin", "amber_sh", "new information")
    for stmt in ("UPDATE audit SET actor = 'someone else'", "DELETE FROM audit"):
        with pytest.raises(DBAPIError, match="append-only"):
            with session_scope(engine, write=True) as s:
                s.execute(text(stmt))


def test_professional_upsert(engine: Engine) -> None:
    with session_scope(engine, write=True) as s:
        p = repo.professional(s, "U0TEACHER", name="Ada Teacher", agency="School")
        pid = p.id
    with session_scope(engine, write=True) as s:
        p2 = repo.professional(s, "U0TEACHER", role="DSL")
        assert p2.id == pid and p2.name == "Ada Teacher" and p2.role == "DSL"
