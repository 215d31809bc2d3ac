"""Write transactions for per-request work: a fast one, and the full one with the ORM.

Every click or typed answer is one transaction. Most of them only read and save
a flow and queue one message, which ``store.sql`` does on the bare DBAPI
connection (a ``Tx`` without a session). Anything more (writing a referral, a
card and its clocks) needs the ORM: such code asks for ``tx.session``, which on
a fast transaction raises ``NeedsSession``; the runner rolls back and runs the
same action again in a full transaction, where ``tx.session`` is the ORM
session and the fast statements share its connection. So an action is written
once and commits in one transaction either way.

``TxRunner`` decides where a transaction runs. On SQLite a fast transaction
runs on the event loop when the database is free at once (it takes about
0.1 ms, less than handing it to a thread and back); when another writer holds
it, and always on PostgreSQL (a network round trip), it runs in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from store import sql
from store.db import is_sqlite, session_scope, write_lock

log = logging.getLogger("frontdoor.store")
T = TypeVar("T")


class NeedsSession(Exception):
    """The action needs the ORM: run it again in a full transaction."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Tx:
    """One write transaction: fast statements (``store.sql``) and, when full, the ORM."""

    def __init__(
        self, cx: sql.Cx, session: Session | None = None, *, lease: sql.Lease | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._cx = cx
        self._session = session
        self.lease = lease
        self.clock = clock
        self.claimed: list[sql.OutboxRow] = []  # queued already claimed: send after commit
        self.queued = 0  # queued for the sweep

    @classmethod
    def of(cls, session: Session, *, lease: sql.Lease | None = None) -> Tx:
        """A full transaction around an open ORM session (sharing its connection)."""
        return cls(sql.Cx.of(session), session, lease=lease)

    @property
    def session(self) -> Session:
        """The ORM session; raises ``NeedsSession`` in a fast transaction."""
        if self._session is None:
            raise NeedsSession
        return self._session

    @property
    def full(self) -> bool:
        """Whether the ORM session is there."""
        return self._session is not None

    @property
    def cx(self) -> sql.Cx:
        """The connection for ``store.sql`` statements, in this transaction."""
        if self._session is not None:  # statements must see the ORM's pending changes
            return sql.Cx.of(self._session)
        return self._cx

    def enqueue(
        self, *, key: str, method: str, payload: dict[str, Any], channel: str = "",
        subject_type: str | None = None, subject_id: int | None = None,
        not_before: datetime | None = None, claim: bool = False,
    ) -> bool:
        """Queue an outgoing Slack call once per ``key`` (see ``store.sql.enqueue``).

        ``claim``: this process sends it right after commit when it can (a lease
        was given and the channel has nothing else open).
        """
        row = sql.enqueue(
            self.cx, key=key, method=method, channel=channel,
            payload=payload, now=self.clock(), not_before=not_before,
            subject_type=subject_type, subject_id=subject_id,
            lease=self.lease if claim else None,
        )
        if isinstance(row, sql.OutboxRow):
            self.claimed.append(row)
            return True
        self.queued += row
        return row

    def claim_event(self, event_id: str) -> bool:
        """Record a Slack event ID; False when it was already handled."""
        return sql.claim_event(self.cx, event_id, self.clock())

    def audit(
        self, *, actor: str, action: str, subject_type: str, subject_id: Any, old: Any = None,
        new: Any = None, reason: str | None = None, at: datetime | None = None,
    ) -> None:
        """Append an audit entry: who, when, what, from what, to what, why."""
        sql.audit(self.cx, at=at or self.clock(), actor=actor, action=action,
                  subject_type=subject_type, subject_id=subject_id, old=old, new=new,
                  reason=reason)


Db = Session | Tx  # what code that only needs the fast statements accepts


def as_tx(db: Db) -> Tx:
    """``db`` as a ``Tx`` (a session is wrapped in a full one)."""
    return db if isinstance(db, Tx) else Tx.of(db)


@contextlib.contextmanager
def write_tx(engine: Engine, *, lease: sql.Lease | None = None) -> Iterator[Tx]:
    """A full write transaction (ORM session and fast statements), committed on success."""
    with session_scope(engine, write=True) as s:
        yield Tx.of(s, lease=lease)


class TxRunner:
    """Runs per-request transactions: fast where possible, full where needed."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = is_sqlite(engine)
        self._loop_cx: Any = None  # SQLite: the event loop's own connection
        self.on_loop = 0  # counts, for tests and benchmarks
        self.in_thread = 0
        self.full = 0

    async def run(
        self, fast: Callable[[Tx], T], full: Callable[[Tx], T] | None = None,
        *, lease: sql.Lease | None = None,
    ) -> tuple[T, Tx]:
        """Run ``fast`` in a fast transaction; if it needs the ORM, ``full`` (default:
        ``fast`` again) in a full one. Returns its result and the (committed) ``Tx``, whose
        ``claimed`` rows are for ``OutboxSender.send_now``.

        An exception from the function rolls its transaction back and is raised.
        """
        try:
            with self._translated():
                done = await self._try_on_loop(fast, lease)
                if done is None:
                    self.in_thread += 1
                    done = await asyncio.to_thread(self._fast_in_thread, fast, lease)
                else:
                    self.on_loop += 1
            return done
        except NeedsSession:
            pass
        self.full += 1
        return await asyncio.to_thread(self.run_full, full or fast, lease)

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """The driver's errors as SQLAlchemy's (``OperationalError`` for a locked or
        unreachable database), as the ORM path raises them; no statement or values."""
        try:
            yield
        except self.engine.dialect.dbapi.Error as exc:  # type: ignore[union-attr]
            raise DBAPIError.instance(None, None, exc, self.engine.dialect.dbapi.Error,  # type: ignore[union-attr]
                                      hide_parameters=True) from exc

    def run_full(self, fn: Callable[[Tx], T], lease: sql.Lease | None = None,
                 ) -> tuple[T, Tx]:
        """Run ``fn`` in a full transaction, here (blocking: call it from a thread)."""
        with write_tx(self.engine, lease=lease) as tx:
            result = fn(tx)
        return result, tx

    async def _try_on_loop(self, fn: Callable[[Tx], T], lease: sql.Lease | None,
                           ) -> tuple[T, Tx] | None:
        """On SQLite, run ``fn`` on the loop, after any thread of ours that is writing
        (waiting without blocking); None if another process holds the database."""
        if not self.sqlite:
            return None
        lock = write_lock(self.engine)
        await lock.acquire_async()
        try:  # from here to the release nothing awaits: the transaction is the loop's
            cx = self._cx()
            try:
                cx.execute("BEGIN IMMEDIATE", {})
            except self.engine.dialect.dbapi.Error as exc:  # type: ignore[union-attr]
                if _busy(exc):
                    return None
                raise
            return self._finish(cx, fn, lease)
        finally:
            lock.release()

    def _fast_in_thread(self, fn: Callable[[Tx], T], lease: sql.Lease | None,
                        ) -> tuple[T, Tx]:
        if self.sqlite:
            with write_lock(self.engine):
                raw = self.engine.raw_connection()
                try:
                    cx = sql.Cx(raw.driver_connection, "sqlite")
                    cx.execute("BEGIN IMMEDIATE", {})  # waits up to the busy timeout
                    return self._finish(cx, fn, lease)
                finally:
                    raw.close()
        raw = self.engine.raw_connection()
        try:
            return self._finish(sql.Cx(raw.driver_connection, self.engine.dialect.name), fn,
                                lease)
        finally:
            raw.close()

    def _finish(self, cx: sql.Cx, fn: Callable[[Tx], T], lease: sql.Lease | None,
                ) -> tuple[T, Tx]:
        """Run ``fn`` in the transaction begun on ``cx``; commit, or roll back and raise."""
        tx = Tx(cx, lease=lease)
        try:
            result = fn(tx)
            cx.dbapi.commit()
        except BaseException:
            # Also when COMMIT itself fails (a full disk): SQLite keeps the transaction,
            # and with it the write lock, open until it is rolled back.
            cx.dbapi.rollback()
            raise
        return result, tx

    def _cx(self) -> sql.Cx:
        if self._loop_cx is None:
            # A connection of its own that never waits: the loop must not block on a
            # lock another process holds (``_busy`` sends the work to a thread). It is
            # detached from the pool, so its busy timeout of 0 never reaches another user.
            fairy = self.engine.raw_connection()
            fairy.detach()
            self._loop_cx = fairy.dbapi_connection
            self._loop_cx.execute("PRAGMA busy_timeout = 0")
        return sql.Cx(self._loop_cx, "sqlite")

    def close(self) -> None:
        """Close the loop's connection."""
        if self._loop_cx is not None:
            self._loop_cx.close()
            self._loop_cx = None


def _busy(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text
