"""Where and when a per-request transaction runs.

On SQLite, fast transactions run on the event loop, in *turns*: each one is
queued, and a turn runs the queued functions in order inside one
``BEGIN IMMEDIATE ... COMMIT``, each in its own ``SAVEPOINT`` (one that fails is
rolled back alone), for at most ``TURN_BUDGET`` seconds of work; then the loop
runs everything else that is ready (reading requests, acknowledging them,
sending messages) before the next turn. Why: on one event loop, a click's
database work done at once delays every other click's acknowledgement, and
under load Slack's 3 seconds matter more than a reply a few milliseconds
sooner; one commit also serves every click in the turn. A transaction costs
about 0.1-0.4 ms here, less than handing it to a thread and back.

The write-ahead log is checkpointed in a thread every ``CHECKPOINT_TURNS``
turns, not by SQLite in the COMMIT that passes 1,000 pages: that copy and its
fsync took several milliseconds of the loop (up to 11 ms under load,
measured), holding up every acknowledgement. Turns wait while the thread
copies (SQLite starts the log afresh only from a write that finds all of it
copied); the loop goes on with everything else. Should another process keep
writing meanwhile, the loop's connection checkpoints at ``WAL_BACKSTOP`` pages,
copying what little is left, so the log stays bounded.

The loop's own connection never waits for a lock: when another process is
writing (SQLite answers "busy" at once), the turn's functions run again, each in
a thread that waits for the database. On PostgreSQL (a network round trip)
every transaction runs in a thread. A function that needs the ORM
(``NeedsSession``) runs again in a full transaction in a thread.

**One way to open a transaction.** Nothing outside ``store/`` opens a session, a
connection or a transaction (``tests/test_one_way.py`` fails by name if anything does):
every transaction is asked of the process's one ``TxRunner``. A transaction written as a
``Tx`` function (the hot path: flows, the outbox, claims) is awaited with :meth:`TxRunner.run`,
which picks the loop or a thread; blocking code (a row-locked ORM action such as a card's,
a consultation's or a CAF's decision, ``bot.flows.locked``; the reminder sweep; a command)
uses :meth:`TxRunner.run_full` for a ``Tx`` function or :meth:`TxRunner.session` for an ORM
session. Code on the event loop never blocks on one: a service offers its blocking action
as a coroutine with :func:`threaded`, which runs it in a thread while the loop goes on
acknowledging. Why not everything on the loop: an ORM transaction costs milliseconds of
Python, which would delay every other click's acknowledgement; why not everything in
threads: a click's flow step costs less on the loop than the hand-off to a thread and back
(see above).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from store import sql
from store.db import is_sqlite, session_scope, write_lock
from store.tx import NeedsSession, Tx, write_tx

T = TypeVar("T")
S = TypeVar("S")
P = ParamSpec("P")
log = logging.getLogger("frontdoor.store")
TURN_BUDGET = 0.002  # seconds of transaction work before the loop's other callbacks run
CHECKPOINT_TURNS = 100  # turns between checkpoints of the WAL (each writes a few pages)
WAL_BACKSTOP = 4000  # pages: where the loop's connection checkpoints after all


def threaded(
    fn: Callable[Concatenate[S, P], T],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, T]]:
    """The coroutine twin of a blocking service method (``aapprove = threaded(approve)``):
    it runs in a thread, so the event loop keeps acknowledging meanwhile."""

    @functools.wraps(fn)
    async def call(self: S, *args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.to_thread(fn, self, *args, **kwargs)

    return call


class _Busy(Exception):
    """Another process holds the SQLite database: run in a thread instead."""


@dataclass
class _Queued:
    fn: Callable[[Tx], Any]
    lease: sql.Lease | None
    done: asyncio.Future[tuple[Any, Tx]] = field(repr=False)


class TxRunner:
    """Runs per-request transactions: fast where possible, full where needed."""

    def __init__(self, engine: Engine, *, budget: float = TURN_BUDGET,
                 observe: Callable[[str, float], None] | None = None) -> None:
        self.engine = engine
        # Told each write transaction's time and where it ran (``loop``, ``thread``, ``orm``).
        self.observe = observe or (lambda _path, _seconds: None)
        self.sqlite = is_sqlite(engine)
        self.budget = budget
        self._loop_cx: Any = None  # SQLite: the event loop's own connection
        self._queue: collections.deque[_Queued] = collections.deque()
        self._turns: asyncio.Task[None] | None = None  # and its wake-up, on the loop
        self._queued: asyncio.Event | None = None
        self.checkpoint_turns = CHECKPOINT_TURNS
        self.wal_backstop = WAL_BACKSTOP
        self._since_checkpoint = 0
        self._checkpointing: asyncio.Future[None] | None = None
        self.on_loop = 0  # counts, for tests and benchmarks
        self.checkpoints = 0
        self.in_thread = 0
        self.full = 0
        self.turns = 0

    async def run(
        self, fast: Callable[[Tx], T], full: Callable[[Tx], T] | None = None,
        *, lease: sql.Lease | None = None,
    ) -> tuple[T, Tx]:
        """Run ``fast`` in a fast transaction; if it needs the ORM, ``full`` (default:
        ``fast`` again) in a full one. Returns its result and the (committed) ``Tx``,
        whose ``claimed`` rows are for ``OutboxSender.send_now``.

        An exception from the function rolls its transaction back and is raised.
        """
        try:
            with self._translated():
                if self.sqlite:
                    try:
                        done = await self._in_turn(fast, lease)
                        self.on_loop += 1
                        return done
                    except _Busy:
                        pass
                self.in_thread += 1
                return await asyncio.to_thread(self._fast_in_thread, fast, lease)
        except NeedsSession:
            pass
        self.full += 1
        return await asyncio.to_thread(self.run_full, full or fast, lease)

    def run_full(self, fn: Callable[[Tx], T], lease: sql.Lease | None = None,
                 ) -> tuple[T, Tx]:
        """Run ``fn`` in a full transaction, here (blocking: call it from a thread)."""
        with self._timed("orm"), write_tx(self.engine, lease=lease) as tx:
            result = fn(tx)
        return result, tx

    @contextlib.contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """An ORM session, here (blocking: from a thread or a command), committed when the
        block ends without an error: a read snapshot, or with ``write`` a write
        transaction (on SQLite ``BEGIN IMMEDIATE``, behind this process's write lock, so
        the loop's turns and the threads take turns)."""
        if not write:
            with session_scope(self.engine) as s:
                yield s
            return
        with self._timed("orm"), session_scope(self.engine, write=True) as s:
            yield s

    async def read(self, fn: Callable[[sql.Cx], T]) -> T:
        """Run ``fn`` in a read-only transaction (one snapshot): on SQLite on the loop
        (a WAL reader never waits for the writer), on PostgreSQL in a thread."""
        with self._translated():
            if self.sqlite:
                return self._read(self._cx(), fn)
            return await asyncio.to_thread(self._read_in_thread, fn)

    def close(self) -> None:
        """Stop taking turns (what is queued fails) and close the loop's connection."""
        if self._turns is not None:
            self._turns.cancel()
            self._turns = None
        if self._checkpointing is not None:
            self._checkpointing.cancel()  # its thread finishes; SQLite keeps what it copied
            self._checkpointing = None
        while self._queue:
            item = self._queue.popleft()
            if not item.done.done():
                item.done.set_exception(RuntimeError("the database runner was closed"))
        if self._loop_cx is not None:
            self._loop_cx.close()
            self._loop_cx = None

    # --- SQLite on the loop, in turns -----------------------------------------------

    async def _in_turn(self, fn: Callable[[Tx], T], lease: sql.Lease | None) -> tuple[T, Tx]:
        loop = asyncio.get_running_loop()
        item = _Queued(fn, lease, loop.create_future())
        self._queue.append(item)
        if self._turns is None or self._turns.done() or self._turns.get_loop() is not loop:
            self._queued = asyncio.Event()
            self._turns = loop.create_task(self._take_turns(self._queued), name="sqlite-turns")
        assert self._queued is not None
        self._queued.set()
        return await item.done  # type: ignore[no-any-return]

    async def _take_turns(self, queued: asyncio.Event) -> None:
        lock = write_lock(self.engine)
        while True:
            await queued.wait()
            queued.clear()
            while self._queue:
                if self._checkpointing is not None and not self._checkpointing.done():
                    # Writing now would leave the log with frames not yet copied, and
                    # SQLite starts it afresh only from a write that finds none.
                    await asyncio.wait([self._checkpointing])
                # After any thread of ours that is writing (waiting, not blocking).
                await lock.acquire_async()
                try:  # from here to the release nothing awaits: the turn is the loop's
                    self._turn()
                finally:
                    lock.release()
                self._maybe_checkpoint()
                await asyncio.sleep(0)  # everything else that is ready runs now

    def _turn(self) -> None:
        """Run queued functions for up to ``budget`` seconds in one transaction."""
        cx = self._cx()
        try:
            cx.execute("BEGIN IMMEDIATE", {})
        except self.engine.dialect.dbapi.Error as exc:  # type: ignore[union-attr]
            busy = _busy(exc)
            while self._queue:  # each goes its own way: a thread waits for the database
                _fail(self._queue.popleft(), _Busy() if busy else exc)
            return
        self.turns += 1
        finished: list[tuple[_Queued, Any]] = []  # (item, (result, tx) or the exception)
        start = time.perf_counter()
        try:
            while self._queue and (not finished or time.perf_counter() - start < self.budget):
                item = self._queue.popleft()
                finished.append((item, None))  # failed with the turn if what follows raises
                finished[-1] = (item, _in_savepoint(cx, item))
            cx.dbapi.commit()
            self.observe("loop", time.perf_counter() - start)
        except BaseException as exc:  # the transaction itself failed: nothing was kept
            cx.dbapi.rollback()
            for item, _ in finished:
                _fail(item, exc)
            if not isinstance(exc, Exception):
                raise
            return
        for item, outcome in finished:
            if isinstance(outcome, BaseException):
                _fail(item, outcome)
            elif not item.done.done():
                item.done.set_result(outcome)

    def _maybe_checkpoint(self) -> None:
        self._since_checkpoint += 1
        if self._since_checkpoint < self.checkpoint_turns:
            return
        if self._checkpointing is not None and not self._checkpointing.done():
            return  # the last one is still copying: the next turn asks again
        self._since_checkpoint = 0
        self._checkpointing = asyncio.ensure_future(asyncio.to_thread(self._checkpoint))

    def _checkpoint(self) -> None:
        try:  # the write lock keeps our own threads' writes out as well
            with write_lock(self.engine), self._pooled() as cx:
                cx.execute("PRAGMA wal_checkpoint(PASSIVE)", {}).fetchall()
            self.checkpoints += 1
        except Exception:  # noqa: BLE001 - the next one copies what this one did not
            log.warning("WAL checkpoint failed", exc_info=True)

    # --- threads -------------------------------------------------------------------

    def _fast_in_thread(self, fn: Callable[[Tx], T], lease: sql.Lease | None,
                        ) -> tuple[T, Tx]:
        if not self.sqlite:
            with self._pooled() as cx, self._timed("thread"):
                return _finish(cx, fn, lease)
        with write_lock(self.engine), self._pooled() as cx, self._timed("thread"):
            cx.execute("BEGIN IMMEDIATE", {})  # waits up to the busy timeout
            return _finish(cx, fn, lease)

    def _read_in_thread(self, fn: Callable[[sql.Cx], T]) -> T:
        with self._pooled() as cx:
            return self._read(cx, fn)

    @contextlib.contextmanager
    def _pooled(self) -> Iterator[sql.Cx]:
        """A connection from the engine's pool (for a thread), given back after."""
        raw = self.engine.raw_connection()
        try:
            yield sql.Cx(raw.driver_connection, self.engine.dialect.name)
        finally:
            raw.close()

    @staticmethod
    def _read(cx: sql.Cx, fn: Callable[[sql.Cx], T]) -> T:
        if cx.sqlite:
            cx.execute("BEGIN", {})
        try:
            return fn(cx)
        finally:
            cx.dbapi.rollback()  # nothing was written: ends the snapshot

    @contextlib.contextmanager
    def _timed(self, path: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.observe(path, time.perf_counter() - start)

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """The driver's errors as SQLAlchemy's (``OperationalError`` for a locked or
        unreachable database), as the ORM path raises them; no statement or values."""
        try:
            yield
        except self.engine.dialect.dbapi.Error as exc:  # type: ignore[union-attr]
            raise DBAPIError.instance(None, None, exc, self.engine.dialect.dbapi.Error,  # type: ignore[union-attr]
                                      hide_parameters=True) from exc

    def _cx(self) -> sql.Cx:
        if self._loop_cx is None:
            # A connection of its own that never waits: the loop must not block on a
            # lock another process holds (``_busy`` sends the work to a thread). It is
            # detached from the pool, so its busy timeout of 0 never reaches another user.
            fairy = self.engine.raw_connection()
            fairy.detach()
            self._loop_cx = fairy.dbapi_connection
            self._loop_cx.execute("PRAGMA busy_timeout = 0")
            self._loop_cx.execute(f"PRAGMA wal_autocheckpoint = {int(self.wal_backstop)}")
        return sql.Cx(self._loop_cx, "sqlite")


def _in_savepoint(cx: sql.Cx, item: _Queued) -> Any:
    """Run one queued function in a savepoint: ``(result, tx)``, or the exception it
    raised (its writes undone). A failure that breaks the transaction is raised."""
    cx.execute("SAVEPOINT turn", {})
    tx = Tx(cx, lease=item.lease)
    try:
        result = item.fn(tx)
    except Exception as exc:  # noqa: BLE001 - handed to that function's caller
        cx.execute("ROLLBACK TO turn", {})  # raises if SQLite ended the transaction
        cx.execute("RELEASE turn", {})
        return exc
    cx.execute("RELEASE turn", {})
    return result, tx


def _finish(cx: sql.Cx, fn: Callable[[Tx], T], lease: sql.Lease | None) -> tuple[T, Tx]:
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


def _fail(item: _Queued, exc: BaseException) -> None:
    if not item.done.done():
        item.done.set_exception(exc)


def _busy(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text
