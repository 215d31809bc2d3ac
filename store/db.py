"""Engine and sessions from ``DATABASE_URL``: SQLite by default, or PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from store import jsontext

DEFAULT_DATABASE_URL = "sqlite:///frontdoor.db"


def database_url(url: str | None = None) -> str:
    """The URL to use, normalised so a plain ``postgresql://`` uses psycopg 3."""
    url = url or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """Create an engine: SQLite gets WAL, foreign keys and a busy timeout."""
    url = database_url(url)
    parsed = make_url(url)
    # Error messages and logs never show bound values: they may be what someone typed.
    kwargs.setdefault("hide_parameters", True)
    # JSON columns written through the ORM as ``store.sql`` writes them (one text).
    kwargs.setdefault("json_serializer", jsontext.dumps)
    kwargs.setdefault("json_deserializer", jsontext.loads)
    if parsed.get_backend_name() == "sqlite":
        # ``?timeout=SECONDS`` in the URL sets how long to wait for a locked database.
        busy = float(parsed.query.get("timeout", 30))  # type: ignore[arg-type]
        parsed = parsed.difference_update_query(["timeout"])
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": busy})
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", lambda c, r: _sqlite_pragmas(c, r, busy))
        # pysqlite's own BEGIN handling defers locking; take the write lock at
        # BEGIN IMMEDIATE where asked (see ``session_scope``).
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    return create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any, busy: float = 30.0) -> None:
    # Let SQLAlchemy issue BEGIN itself so that BEGIN IMMEDIATE is possible.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={int(busy * 1000)}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    immediate = conn.get_execution_options().get("immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def is_sqlite(engine: Engine) -> bool:
    """Whether the engine is SQLite (which has no row locks)."""
    return engine.dialect.name == "sqlite"


@contextmanager
def session_scope(engine: Engine, *, write: bool = False) -> Iterator[Session]:
    """A session committed on success and rolled back on error.

    ``write=True`` on SQLite begins with ``BEGIN IMMEDIATE`` so that
    read-then-write sequences (claiming reminders, checking a card's status
    before deciding) are serialised instead of failing on lock upgrade.
    """
    if not (write and is_sqlite(engine)):
        with Session(engine, expire_on_commit=False) as session:
            yield from _commit_or_rollback(session)
        return
    # One writer at a time inside this process: threads queue on a lock instead of
    # meeting SQLite's busy handler, which sleeps between retries (a p99 of hundreds
    # of milliseconds under load, measured). Other processes still wait on SQLite.
    with write_lock(engine), Session(
        engine.execution_options(immediate=True), expire_on_commit=False
    ) as session:
        yield from _commit_or_rollback(session)


def _commit_or_rollback(session: Session) -> Iterator[Session]:
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


class WriteLock:
    """One writer at a time inside this process, for threads and for the event loop.

    Threads take it blocking (``with lock:``, re-entrant). The event loop must never
    block: it waits with ``acquire_async``, which a release wakes, and then holds
    the lock only while it runs a short transaction without awaiting.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._guard = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def __enter__(self) -> WriteLock:
        self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock (``blocking=False``: only if free now)."""
        return self._lock.acquire(blocking)

    def release(self) -> None:
        """Give the lock back and wake the event loops waiting for it."""
        self._lock.release()
        if self._waiters:
            with self._guard:
                waiters, self._waiters = self._waiters, []
            for loop, fut in waiters:
                loop.call_soon_threadsafe(_wake, fut)

    async def acquire_async(self) -> None:
        """Take the lock from the event loop, waiting (not blocking) while a thread has it."""
        loop = asyncio.get_running_loop()
        while True:
            fut: asyncio.Future[None] = loop.create_future()
            with self._guard:  # registered before trying: a release in between wakes it
                self._waiters.append((loop, fut))
            if self._lock.acquire(blocking=False):
                with self._guard:
                    if (loop, fut) in self._waiters:
                        self._waiters.remove((loop, fut))
                return
            await fut


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, WriteLock] = weakref.WeakKeyDictionary()
_LOCKS_LOCK = threading.Lock()


def write_lock(engine: Engine) -> WriteLock:
    """This process's lock for writing to ``engine`` (SQLite takes one writer at a time)."""
    lock = _WRITE_LOCKS.get(engine)
    if lock is None:
        with _LOCKS_LOCK:
            lock = _WRITE_LOCKS.get(engine)
            if lock is None:
                lock = _WRITE_LOCKS[engine] = WriteLock()
    return lock


def ping(engine: Engine) -> bool:
    """True when the database answers (for ``/healthz``)."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False
