"""Hand-written SQL for the writes every request makes, on the DBAPI connection itself.

A professional's click reads and saves their flow, queues the next question and
(for a typed answer) records the platform's event; the last answer writes the
referral or consultation, the card and its clocks; the sender claims and records
each delivery. Through SQLAlchemy's Session each statement cost 30-150 us of
Python and a transaction about 150 us, several times SQLite's own work
(measured), so these statements are written here once, for SQLite and
PostgreSQL (``insert``, ``load`` and ``update`` work from a model's columns), and
everything else keeps the ORM.

Values are stored exactly as SQLAlchemy stores them (``UTCDateTime`` as naive
UTC text on SQLite and ``timestamptz`` on PostgreSQL; JSON as text), so the ORM
reads what this writes and the other way round (``tests/test_store_sql.py``).
The repository functions (``store.repo.enqueue`` and friends) call these too,
so there is one implementation of each write.
"""

from __future__ import annotations

import json
import re
from collections.abc import Container
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import JSON, Boolean
from sqlmodel import Session

from store import jsontext
from store.models import Decision
from store.types import DEFAULT_PLATFORM, UTCDateTime, from_stored, to_utc

M = TypeVar("M")

_CX = "store.sql.cx"  # a session's Cx, kept in ``session.info`` for its transaction


class Cx:
    """A DBAPI connection (sqlite3 or psycopg) inside a transaction, and its dialect."""

    __slots__ = ("dbapi", "sqlite")

    def __init__(self, dbapi: Any, dialect: str) -> None:
        self.dbapi = dbapi
        self.sqlite = dialect == "sqlite"

    @classmethod
    def of(cls, session: Session) -> Cx:
        """The connection under ``session``, in the session's transaction.

        Pending ORM changes are flushed first, so statements here see them.
        """
        if session.new or session.dirty or session.deleted:
            session.flush()
        held = session.info.get(_CX)
        if held is not None and held[0] is session.get_transaction():
            return held[1]  # asking the session for its connection costs, every time
        conn = session.connection()
        cx = cls(conn.connection.driver_connection, conn.dialect.name)
        session.info[_CX] = (session.get_transaction(), cx)
        return cx

    def execute(self, sql: str, params: dict[str, Any] | list[dict[str, Any]]) -> Any:
        """Run ``sql`` (written with ``:name`` parameters) and return the cursor."""
        if self.sqlite:
            if isinstance(params, list):
                return self.dbapi.executemany(sql, params)
            return self.dbapi.execute(sql, params)
        cur = self.dbapi.cursor()
        if isinstance(params, list):
            cur.executemany(_pyformat(sql), params)
        else:
            cur.execute(_pyformat(sql), params)
        return cur

    def first(self, sql: str, params: dict[str, Any]) -> Any:
        """The first row of ``sql``, or None."""
        return self.execute(sql, params).fetchone()

    # --- values as SQLAlchemy stores them --------------------------------

    def when(self, value: datetime | None) -> Any:
        """An aware datetime as a parameter (``UTCDateTime``'s storage)."""
        if value is None:
            return None
        value = to_utc(value)
        return value.replace(tzinfo=None).isoformat(" ", "microseconds") if self.sqlite else value

    @staticmethod
    def read_when(value: Any) -> datetime | None:
        """A stored datetime as an aware UTC datetime."""
        if value is None:
            return None
        return from_stored(datetime.fromisoformat(value) if isinstance(value, str) else value)

    @staticmethod
    def read_json(value: Any) -> Any:
        """A stored JSON value (SQLite gives text; psycopg has already parsed it)."""
        return jsontext.loads(value) if isinstance(value, str | bytes) else value


@cache
def _pyformat(sql: str) -> str:
    # psycopg takes %(name)s; the statements here are written with :name.
    return re.sub(r"(?<![:\w]):([a-z_]+)", r"%(\1)s", sql)


# --- flow_session --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FlowRow:
    """An active ``flow_session`` row, as the flows need it."""

    id: int
    user_id: str
    kind: str
    state: str
    answers: dict[str, Any]
    history: list[str]
    version: int
    expires_at: datetime | None
    platform: str = DEFAULT_PLATFORM  # whose chat the flow runs in: its messages go there


_ACTIVE_FLOW = (
    "SELECT id, user_id, kind, state, answers, history, version, expires_at, platform "
    "FROM flow_session WHERE platform = :platform AND user_id = :user_id AND status = 'active'"
)


def active_flow(cx: Cx, user_id: str, platform: str = DEFAULT_PLATFORM) -> FlowRow | None:
    """The professional's active flow, or None."""
    r = cx.first(_ACTIVE_FLOW, {"platform": platform, "user_id": user_id})
    if r is None:
        return None
    return FlowRow(
        id=r[0], user_id=r[1], kind=r[2], state=r[3], answers=dict(cx.read_json(r[4]) or {}),
        history=list(cx.read_json(r[5]) or []), version=r[6], expires_at=cx.read_when(r[7]),
        platform=r[8],
    )


_INSERT_FLOW = (
    "INSERT INTO flow_session (platform, user_id, kind, state, status, answers, history, "
    "version, started_at, updated_at, expires_at) VALUES (:platform, :user_id, :kind, :state, "
    "'active', '{}', '[]', 1, :now, :now, :expires_at) "
    "ON CONFLICT (platform, user_id) WHERE status = 'active' DO NOTHING RETURNING id"
)


def insert_flow(
    cx: Cx, *, user_id: str, kind: str, state: str, now: datetime, expires_at: datetime,
    platform: str = DEFAULT_PLATFORM,
) -> int | None:
    """Start a flow (version 1, no answers); None if the user already has an active one."""
    r = cx.first(_INSERT_FLOW, {
        "platform": platform, "user_id": user_id, "kind": kind, "state": state,
        "now": cx.when(now), "expires_at": cx.when(expires_at),
    })
    return None if r is None else int(r[0])


_FLOW_JSON = ("answers", "history")
_FLOW_TIMES = ("updated_at", "expires_at", "ended_at")


@cache
def _save_flow_sql(columns: tuple[str, ...]) -> str:
    sets = ", ".join(f"{c} = :{c}" for c in columns)
    return f"UPDATE flow_session SET {sets} WHERE id = :id AND version = :was"


def save_flow(cx: Cx, flow_id: int, was: int, values: dict[str, Any]) -> bool:
    """Compare-and-set: write ``values`` only if the row is still at version ``was``."""
    params = {k: jsontext.dumps(v) if k in _FLOW_JSON else cx.when(v) if k in _FLOW_TIMES else v
              for k, v in values.items()}
    sql = _save_flow_sql(tuple(sorted(values)))
    return bool(cx.execute(sql, {**params, "id": flow_id, "was": was}).rowcount == 1)


# --- processed_event, audit ---------------------------------------------------

_CLAIM_EVENT = (
    "INSERT INTO processed_event (event_id, received_at) VALUES (:event_id, :at) "
    "ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
)


def claim_event(cx: Cx, event_id: str, now: datetime) -> bool:
    """Record a platform's event id (or a key of ours); False when it was already handled
    (a retry)."""
    return cx.first(_CLAIM_EVENT, {"event_id": event_id, "at": cx.when(now)}) is not None


_CLAIM_ONCE = (
    "INSERT INTO request_replay (once_key, received_at) VALUES (:key, :at) "
    "ON CONFLICT (once_key) DO NOTHING RETURNING once_key"
)


def claim_once(cx: Cx, key: str, now: datetime) -> bool:
    """Record a request's once-key; False when it was already taken (a replay).

    The first writer wins on both databases: a concurrent second insert waits for the
    first's commit and then does nothing.
    """
    return cx.first(_CLAIM_ONCE, {"key": key, "at": cx.when(now)}) is not None


def forget_once(cx: Cx, key: str) -> None:
    """Remove one once-key (its request ran nothing)."""
    cx.execute("DELETE FROM request_replay WHERE once_key = :key", {"key": key})


def purge_once(cx: Cx, before: datetime) -> int:
    """Forget once-keys taken before ``before``; how many."""
    return int(cx.execute("DELETE FROM request_replay WHERE received_at < :before",
                          {"before": cx.when(before)}).rowcount)


_AUDIT = (
    "INSERT INTO audit (at, actor, action, subject_type, subject_id, old_value, new_value, "
    "reason) VALUES (:at, :actor, :action, :subject_type, :subject_id, :old, :new, :reason)"
)


def audit(
    cx: Cx, *, at: datetime, actor: str, action: str, subject_type: str, subject_id: Any,
    old: Any = None, new: Any = None, reason: str | None = None,
) -> None:
    """Append an audit entry; values that are not text are stored as sorted JSON."""
    cx.execute(_AUDIT, {
        "at": cx.when(at), "actor": actor, "action": action, "subject_type": subject_type,
        "subject_id": str(subject_id), "old": _text(old), "new": _text(new), "reason": reason,
    })


def _text(v: Any) -> str | None:
    if v is None or isinstance(v, str):
        return v
    return json.dumps(v, sort_keys=True, default=str)


# --- whole rows of a model (the records a finished flow writes) -----------------------


def _bind(cx: Cx, column: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column.type, UTCDateTime):
        return cx.when(value)
    if isinstance(column.type, JSON):
        return jsontext.dumps(value)
    return value


def _read(cx: Cx, column: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column.type, UTCDateTime):
        return cx.read_when(value)
    if isinstance(column.type, JSON):
        return cx.read_json(value)
    if isinstance(column.type, Boolean):
        return bool(value)  # SQLite keeps 0 and 1
    return value


@cache
def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    names = ", ".join(columns)
    values = ", ".join(f":{c}" for c in columns)
    return f"INSERT INTO {table} ({names}) VALUES ({values}) RETURNING id"


def insert(cx: Cx, obj: Any) -> int:
    """Insert a new model object (every column, as the ORM would); sets and returns its id."""
    table = type(obj).__table__
    columns = [c for c in table.columns if not (c.primary_key and getattr(obj, c.name) is None)]
    sql = _insert_sql(table.name, tuple(c.name for c in columns))
    r = cx.first(sql, {c.name: _bind(cx, c, getattr(obj, c.name)) for c in columns})
    obj.id = int(r[0])
    return obj.id


def load(cx: Cx, model: type[M], row_id: int) -> M | None:
    """The model object with this id, read without the ORM (detached: save with ``update``)."""
    table = model.__table__  # type: ignore[attr-defined]
    columns = list(table.columns)
    r = cx.first(_load_sql(table.name, tuple(c.name for c in columns)), {"id": row_id})
    if r is None:
        return None
    return model(**{c.name: _read(cx, c, v) for c, v in zip(columns, r, strict=True)})


def last_decision(cx: Cx, card_id: int) -> Decision | None:
    """The card's newest ``Decision`` (its id is the order they were made in), or None."""
    r = cx.first("SELECT max(id) FROM decision WHERE card_id = :id", {"id": card_id})
    return load(cx, Decision, int(r[0])) if r and r[0] is not None else None


@cache
def _load_sql(table: str, columns: tuple[str, ...]) -> str:
    return f"SELECT {', '.join(columns)} FROM {table} WHERE id = :id"


def update(cx: Cx, model: type[Any], row_id: int, **values: Any) -> None:
    """Set columns of one row by id."""
    table = model.__table__
    sets = ", ".join(f"{k} = :{k}" for k in sorted(values))
    cx.execute(f"UPDATE {table.name} SET {sets} WHERE id = :id",
               {**{k: _bind(cx, table.columns[k], v) for k, v in values.items()}, "id": row_id})


# --- professional, reference_counter -----------------------------------------------

_PROFESSIONAL = (
    "SELECT id, name, role, agency, contact FROM professional "
    "WHERE platform = :platform AND user_id = :user_id"
)
_NEW_PROFESSIONAL = (
    "INSERT INTO professional (platform, user_id, name, role, agency, contact, created_at, "
    "updated_at) VALUES (:platform, :user_id, '', '', '', '', :now, :now) "
    "ON CONFLICT (platform, user_id) DO NOTHING"
)
_PROFESSIONAL_DETAILS = ("name", "role", "agency", "contact")


def professional(cx: Cx, user_id: str, details: dict[str, str], now: datetime,
                 platform: str = DEFAULT_PLATFORM) -> int:
    """The id of the professional with this user id on ``platform``, created if new; the
    non-empty ``details`` (name, role, agency, contact) that differ are updated."""
    who = {"platform": platform, "user_id": user_id}
    r = cx.first(_PROFESSIONAL, who)
    if r is None:
        cx.execute(_NEW_PROFESSIONAL, {**who, "now": cx.when(now)})
        r = cx.first(_PROFESSIONAL, who)
    held = dict(zip(_PROFESSIONAL_DETAILS, r[1:], strict=True))
    changed = {k: v for k, v in details.items() if v and held[k] != v}
    if changed:
        unknown = set(changed) - set(_PROFESSIONAL_DETAILS)
        if unknown:
            raise ValueError(f"not a professional's detail: {sorted(unknown)}")
        sets = ", ".join(f"{k} = :{k}" for k in sorted(changed))
        cx.execute(f"UPDATE professional SET {sets}, updated_at = :now WHERE id = :id",
                   {**changed, "now": cx.when(now), "id": r[0]})
    return int(r[0])


_NEW_YEAR = (
    "INSERT INTO reference_counter (year, last) VALUES (:year, 0) "
    "ON CONFLICT (year) DO NOTHING"
)
_NEXT_NUMBER = "UPDATE reference_counter SET last = last + 1 WHERE year = :year RETURNING last"


def next_number(cx: Cx, year: int) -> int:
    """The year's next reference number (the counter row is made if missing and taken in
    the caller's transaction, so two processes never issue the same number)."""
    cx.execute(_NEW_YEAR, {"year": year})
    return int(cx.first(_NEXT_NUMBER, {"year": year})[0])


# --- reminder ------------------------------------------------------------------------

_SCHEDULE = (
    "INSERT INTO reminder (key, kind, subject_type, subject_id, due_at, status, payload, "
    "sent_count, attempts, created_at) VALUES (:key, :kind, :subject_type, :subject_id, "
    ":due_at, 'pending', :payload, 0, 0, :now) ON CONFLICT (key) DO NOTHING RETURNING id"
)


def schedule(
    cx: Cx, *, key: str, kind: str, subject_type: str, subject_id: int, due_at: datetime,
    payload: dict[str, Any], now: datetime,
) -> bool:
    """Schedule a reminder once per ``key``; False if it already exists."""
    return cx.first(_SCHEDULE, {
        "key": key, "kind": kind, "subject_type": subject_type, "subject_id": subject_id,
        "due_at": cx.when(due_at), "payload": jsontext.dumps(payload), "now": cx.when(now),
    }) is not None


# --- outbox ------------------------------------------------------------------------


@dataclass(slots=True)
class OutboxRow:
    """An outbox row as the sender needs it: a plain copy, never flushed back."""

    id: int
    idempotency_key: str
    intent: str  # what to say (a platform-neutral intent), rendered when sent
    channel: str
    payload: dict[str, Any]
    status: str  # as claimed from: "sending" means its last sender died mid-call
    attempts: int
    subject_type: str | None = None
    subject_id: int | None = None
    created_at: datetime | None = None  # when queued: a search for it on the platform starts here
    platform: str = DEFAULT_PLATFORM  # whose renderer draws it and whose transport sends it


@dataclass(frozen=True, slots=True)
class Lease:
    """Who claims a row as it is queued (the process that will send it), and until when.

    ``delivered``: rows this worker has sent but not yet recorded as sent (it records
    them in batches). They no longer hold their channel: what follows them may go.
    """

    worker: str
    until: datetime
    delivered: Container[int] = field(default=frozenset(), compare=False)


_INSERT_OUTBOX = (
    "INSERT INTO outbox (idempotency_key, platform, intent, channel, payload, status, "
    "attempts, next_attempt_at, claimed_by, claimed_until, subject_type, subject_id, "
    "created_at) VALUES (:key, :platform, :intent, :channel, :payload, :status, :attempts, "
    ":next_at, :worker, "
    ":until, :subject_type, :subject_id, :now) "
    "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
)
_CHANNEL_TURN = "SELECT pg_advisory_xact_lock(hashtext('outbox:' || :channel))"
_OPEN_SEEN = 8  # a channel with more open rows than this is left to the sweep
_CHANNEL_OPEN = (
    "SELECT id FROM outbox WHERE channel = :channel AND status IN ('pending', 'sending') "
    f"LIMIT {_OPEN_SEEN}"
)


def enqueue(
    cx: Cx, *, key: str, intent: str, payload: dict[str, Any], now: datetime, channel: str = "",
    not_before: datetime | None = None, subject_type: str | None = None,
    subject_id: int | None = None, lease: Lease | None = None, platform: str = DEFAULT_PLATFORM,
) -> OutboxRow | bool:
    """Queue an outgoing call once per ``key``; False if the key was queued before.

    With a ``lease``, a row due now that is its channel's only open row (but for
    rows the lease says are delivered) is queued already claimed (``sending``) and
    returned, for that process to send at once after commit: no sweep has to find
    it. Otherwise True: the sender's sweep sends it in its channel's order.
    ``channel`` defaults to the payload's.
    """
    channel = channel or payload.get("channel", "")
    next_at = cx.when(not_before or now)  # refuses a naive datetime before comparing
    claim = False
    if lease is not None and (not_before is None or not_before <= now):
        if not cx.sqlite:
            # Two transactions may queue for one channel at once (SQLite runs one writer
            # at a time): take the channel in turn, so only one of them can find it free.
            cx.execute(_CHANNEL_TURN, {"channel": channel})
        open_ids = cx.execute(_CHANNEL_OPEN, {"channel": channel}).fetchall()
        # Seeing all of them is needed to know none waits (the query has no order).
        claim = len(open_ids) < _OPEN_SEEN and all(r[0] in lease.delivered for r in open_ids)
    r = cx.first(_INSERT_OUTBOX, {
        "key": key, "platform": platform, "intent": intent, "channel": channel,
        "payload": jsontext.dumps(payload),
        "status": "sending" if claim else "pending", "attempts": 1 if claim else 0,
        "next_at": next_at, "worker": lease.worker if claim else None,
        "until": cx.when(lease.until) if claim else None,
        "subject_type": subject_type, "subject_id": subject_id, "now": cx.when(now),
    })
    if r is None:
        return False
    if not claim:
        return True
    return OutboxRow(id=int(r[0]), idempotency_key=key, intent=intent, channel=channel,
                     payload=payload, status="pending", attempts=1, platform=platform,
                     subject_type=subject_type, subject_id=subject_id, created_at=now)


_SENT = (
    "UPDATE outbox SET status = 'sent', message_id = :message_id, sent_at = :at, "
    "last_error = :note, claimed_until = NULL WHERE id = :id AND claimed_by = :worker"
)
_RETRY = (
    "UPDATE outbox SET status = 'pending', next_attempt_at = :at, last_error = :error, "
    "claimed_until = NULL, attempts = attempts - :back WHERE id = :id AND claimed_by = :worker"
)
_UNSURE = (
    "UPDATE outbox SET claimed_until = :at, last_error = :error, "
    "attempts = attempts - :back WHERE id = :id AND claimed_by = :worker"
)
_DEAD = (
    "UPDATE outbox SET status = 'dead', last_error = :error, claimed_until = NULL "
    "WHERE id = :id AND claimed_by = :worker"
)


def mark_sent(cx: Cx, worker: str, at: datetime,
              rows: list[tuple[int, str | None, str | None]]) -> None:
    """Record deliveries ``(id, message id, note)`` by ``worker``.

    Here and in ``mark_retry`` and ``mark_dead``, a row another sender has claimed
    since (this one's lease ran out) is left to that sender.
    """
    when = cx.when(at)
    cx.execute(_SENT, [{"id": i, "message_id": ts, "note": note, "at": when, "worker": worker}
                       for i, ts, note in rows])


_SENT_TS = "SELECT status, message_id FROM outbox WHERE idempotency_key = :key"


def sent_ts(cx: Cx, key: str) -> tuple[str | None, str | None]:
    """(status, message id) of the row queued under ``key``: where the message it posted
    is, for a later update of it. A status of None: no such row (never queued, or
    purged); the ts is None until the row is sent."""
    r = cx.first(_SENT_TS, {"key": key})
    if r is None:
        return None, None
    return str(r[0]), (r[1] or None) if r[0] == "sent" else None


_POSTED = (
    "SELECT payload FROM outbox WHERE channel = :channel AND message_id = :message_id "
    "AND intent = :intent AND status = 'sent' ORDER BY id DESC LIMIT 1"
)


def posted_payload(cx: Cx, channel: str, ts: str, intent: str) -> dict[str, Any] | None:
    """What the ``intent`` row delivered as message ``ts`` in ``channel`` held (as
    queued), or None when no such row is kept."""
    r = cx.first(_POSTED, {"channel": channel, "message_id": ts, "intent": intent})
    if r is None or not r[0]:
        return None
    return jsontext.loads(r[0]) if isinstance(r[0], str | bytes) else dict(r[0])


_NOTE_DELIVERED = "UPDATE outbox SET message_id = :message_id WHERE id = :id AND status = 'sending'"
_NOTED_DELIVERY = "SELECT message_id FROM outbox WHERE id = :id"


def note_delivered(cx: Cx, row_id: int, message_id: str) -> None:
    """Write down, before the row is recorded as sent, where a platform that cannot be
    searched put it (Teams): the row is then known to be delivered if its sender dies."""
    cx.execute(_NOTE_DELIVERED, {"id": row_id, "message_id": message_id})


def noted_delivery(cx: Cx, row_id: int) -> str | None:
    """The message id ``note_delivered`` wrote for the row, None if none was."""
    r = cx.first(_NOTED_DELIVERY, {"id": row_id})
    return (r[0] or None) if r is not None else None


def mark_retry(cx: Cx, worker: str, row_id: int, at: datetime, error: str, *,
               counts: bool) -> None:
    """Back to pending until ``at``; an attempt that does not count is given back."""
    cx.execute(_RETRY, {"id": row_id, "at": cx.when(at), "error": error[:500],
                        "back": 0 if counts else 1, "worker": worker})


def mark_unsure(cx: Cx, worker: str, row_id: int, at: datetime, error: str, *,
                counts: bool) -> None:
    """Left ``sending`` until ``at``: whether the platform has it is not known (a call cut off, a
    search that failed), so whoever claims it next searches the platform before sending it."""
    cx.execute(_UNSURE, {"id": row_id, "at": cx.when(at), "error": error[:500],
                         "back": 0 if counts else 1, "worker": worker})


def mark_dead(cx: Cx, worker: str, row_id: int, error: str) -> bool:
    """Given up: no retry will fix it. False if another sender has the row now."""
    return bool(cx.execute(_DEAD, {"id": row_id, "error": error[:500],
                                   "worker": worker}).rowcount == 1)


_HEADS = (
    "SELECT o.id, o.idempotency_key, o.intent, o.channel, o.payload, o.status, o.attempts, "
    "o.subject_type, o.subject_id, o.created_at, o.platform FROM outbox o "
    "JOIN (SELECT channel, MIN(id) AS id FROM outbox WHERE status IN ('pending', 'sending') "
    "GROUP BY channel) head "
    "ON o.id = head.id WHERE (o.status = 'pending' AND o.next_attempt_at <= :now) "
    "OR (o.status = 'sending' AND o.claimed_until < :now) ORDER BY o.id LIMIT :batch"
)
_CLAIM = (
    "UPDATE outbox SET status = 'sending', claimed_by = :worker, claimed_until = :until, "
    "attempts = attempts + 1 WHERE id = :id"
)


def claim_heads(cx: Cx, now: datetime, lease: Lease, batch: int) -> list[OutboxRow]:
    """Claim each channel's oldest open row, if it is due, for ``lease.worker``.

    Only a channel's head is sent, so a card's update never overtakes its post and
    a head in backoff holds its channel; MIN(id) per channel on the (channel,
    status, id) index stays cheap however long a channel's backlog grows. A row
    still ``sending`` past its lease was left by a sender that died mid-call (or
    one that could not tell whether the platform has it, ``mark_unsure``): it comes back
    with status "sending", so the sender checks the platform before resending.
    On PostgreSQL, rows another sender has locked are skipped.
    """
    query = _HEADS if cx.sqlite else _HEADS + " FOR UPDATE OF o SKIP LOCKED"
    found = cx.execute(query, {"now": cx.when(now), "batch": batch}).fetchall()
    if not found:
        return []
    until = cx.when(lease.until)
    cx.execute(_CLAIM, [{"id": r[0], "worker": lease.worker, "until": until} for r in found])
    return [OutboxRow(id=r[0], idempotency_key=r[1], intent=r[2], channel=r[3],
                      payload=dict(cx.read_json(r[4]) or {}), status=r[5], attempts=r[6] + 1,
                      subject_type=r[7], subject_id=r[8], created_at=cx.read_when(r[9]),
                      platform=r[10])
            for r in found]


# --- message_ref ----------------------------------------------------------------

_PLACE = (
    "INSERT INTO message_ref (subject_type, subject_id, purpose, platform, conversation, "
    "message_id, created_at, updated_at) VALUES (:type, :sid, :purpose, :platform, :conv, "
    ":msg, :now, :now) ON CONFLICT (subject_type, subject_id, purpose, platform) DO "
)
_WHERE = (
    "SELECT conversation, message_id FROM message_ref WHERE subject_type = :type "
    "AND subject_id = :sid AND purpose = :purpose AND platform = :platform"
)


@dataclass(frozen=True, slots=True)
class Place:
    """Where a subject's message is: the conversation, and the message once delivered."""

    conversation: str
    message_id: str | None


def place(cx: Cx, subject_type: str, subject_id: int, purpose: str, conversation: str,
          now: datetime, *, platform: str = DEFAULT_PLATFORM) -> None:
    """Say which conversation a subject's message goes to, as it is queued (kept if set:
    a card stays where it was posted whatever its rating becomes)."""
    cx.execute(_PLACE + "NOTHING", {
        "type": subject_type, "sid": subject_id, "purpose": purpose, "platform": platform,
        "conv": conversation, "msg": None, "now": cx.when(now)})


def delivered(cx: Cx, subject_type: str, subject_id: int, purpose: str, conversation: str,
              message_id: str, now: datetime, *, platform: str = DEFAULT_PLATFORM,
              replace: bool = False) -> None:
    """Record where a subject's message was delivered. The first delivery stands (a card's
    post found again after a crash must not move it) unless ``replace`` (a flow's question
    on screen is always the newest)."""
    keep = "" if replace else " WHERE message_ref.message_id IS NULL"
    cx.execute(_PLACE + "UPDATE SET conversation = :conv, message_id = :msg, "
               "updated_at = :now" + keep, {
                   "type": subject_type, "sid": subject_id, "purpose": purpose,
                   "platform": platform, "conv": conversation, "msg": message_id,
                   "now": cx.when(now)})


def where(cx: Cx, subject_type: str, subject_id: int, purpose: str, *,
          platform: str = DEFAULT_PLATFORM) -> Place | None:
    """Where a subject's message is on ``platform``, or None when none was queued."""
    r = cx.first(_WHERE, {"type": subject_type, "sid": subject_id, "purpose": purpose,
                          "platform": platform})
    return None if r is None else Place(r[0], r[1] or None)
