"""The outbox sender: every outgoing message is a row first (an intent, ``bot.intents``),
delivered here by the row's platform's transport.

Rows are claimed in order per address (a card's update never overtakes its
post), paced per address, retried on rate limits (after Retry-After), server and
network errors with backoff, and marked dead after the last attempt, with an
alert to the escalation channel. Each row is drawn by the platform's renderer
when it is sent.

Exactly once: a new message whose outcome is unknown (its sender died mid-call,
or the call was cut off, timed out or failed on the platform's side, any of which
may follow the platform storing it) stays ``sending``, and whoever claims it next
first asks the transport to find it by its key. A search that fails is "not known
yet": the row waits (a rate limit's Retry-After, else backoff) and is searched for
again; it is never a reason to send. A search too long to finish
(``SearchTooLong``) gives up: the row is dead, with an alert, not resent blind.

This module knows no chat platform: ``Renderer`` and ``Transport`` are what a
platform package provides (Slack's: ``bot.handlers.slack.render`` and
``bot.handlers.slack.transport``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol

from sqlalchemy.engine import Engine

from bot import delivered, intents
from store import claims, sql
from store.runner import TxRunner
from store.sql import OutboxRow
from store.tx import Tx
from store.types import utcnow

log = logging.getLogger("frontdoor.outbox")


@dataclass(frozen=True, slots=True)
class Delivered:
    """Where the platform put a message: its conversation and its id there."""

    conversation: str | None = None
    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed call as the sender retries it."""

    RATELIMITED: ClassVar[str] = "ratelimited"  # wait ``retry_after``; no attempt used up
    RETRY: ClassVar[str] = "retry"  # back off and try again
    PERMANENT: ClassVar[str] = "permanent"  # no retry will fix it

    error: str
    kind: str
    retry_after: timedelta | None = None
    maybe_taken: bool = False  # the platform may have acted on it (no answer, a 5xx)


class Renderer(Protocol):
    """A platform's drawing of intents into its calls."""

    def needs_rows(self, row: OutboxRow) -> bool:
        """Whether drawing ``row`` reads the database."""
        ...

    def prepare(self, cx: sql.Cx | None, row: OutboxRow, now: datetime) -> Any | None:
        """The call for ``row`` (None: nothing to send any more); may raise ``NotReady``."""
        ...


class Transport(Protocol):
    """A platform's delivery of drawn calls."""

    platform: str

    def findable(self, intent: str) -> bool:
        """Whether a delivery of ``intent`` can be found by its row's key."""
        ...

    async def send(self, row: OutboxRow, call: Any) -> Delivered:
        """Deliver a new message (or file)."""
        ...

    async def update(self, row: OutboxRow, call: Any) -> Delivered:
        """Redraw a delivered message."""
        ...

    async def find(self, row: OutboxRow, call: Any) -> Delivered | None:
        """The delivered message of ``row`` (by its key), None if there is none; raises
        on an error (never "not there") and ``SearchTooLong``."""
        ...

    async def conversation(self, user_id: str) -> str:
        """The direct conversation with a person."""
        ...

    def failure(self, exc: BaseException) -> Failure | None:
        """What ``exc`` means for a retry; None when it is no failure of the platform's."""
        ...


OnSent = Callable[[Tx, OutboxRow, Delivered], None]


def remember(tx: Tx, row: OutboxRow, where: Delivered) -> None:
    """The default ``on_sent``: the subject's message is where it was delivered."""
    delivered.remember(tx, intents.intent_of(row), row.subject_type, row.subject_id,
                       where.conversation, where.message_id, platform=row.platform)


@dataclass
class Outcome:
    """What happened to one row in a round, to be recorded with the others."""

    row: OutboxRow
    kind: str  # sent | retry | unsure (retry, searching first) | dead
    data: Delivered | None = None
    at: datetime | None = None
    error: str = ""
    counts: bool = True


class NotReady(Exception):
    """A row depends on something not yet delivered (e.g. the card's own post)."""


class UnknownIntent(Exception):
    """The renderer has no drawing for a row's intent: no retry will give it one."""


class SearchTooLong(Exception):
    """Too much history since the row was queued to tell whether the platform has it."""


@dataclass
class SenderStats:
    """Counts for the last sweep (tests and benchmarks read them)."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    recovered: int = 0
    errors: list[str] = field(default_factory=list)


class OutboxSender:
    """Delivers outbox rows: each drawn by ``renderer``, delivered by ``transport``.

    Two ways in: the sweep (``run_once``) claims each channel's due head; and
    ``send_now`` takes rows a request queued already claimed for this process
    (``Tx.enqueue(claim=True)``), so the professional's next question goes out
    without waiting for a sweep. Both record outcomes in batches.
    """

    def __init__(
        self,
        engine: Engine,
        transport: Transport,
        *,
        renderer: Renderer,
        on_sent: OnSent | None = remember,
        escalation_channel: str = "",
        escalation_platform: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        worker_id: str | None = None,
        pace: float = 1.0,
        max_attempts: int = 15,
        batch: int = 50,
        lease: timedelta = timedelta(seconds=60),
        runner: TxRunner | None = None,
        on_result: Callable[[str], None] | None = None,
    ) -> None:
        self.runner = runner or TxRunner(engine)  # every transaction goes through it
        # Each row goes by its platform's renderer and transport; the first is the
        # default (a listener's private note goes through its transport).
        self.transport = transport
        self.renderer = renderer
        self.platforms: dict[str, tuple[Renderer, Transport]] = {
            transport.platform: (renderer, transport)}
        self.on_sent = on_sent
        self.escalation_channel = escalation_channel
        # The escalation channel's platform: the policy's first (the council's own).
        self.escalation_platform = escalation_platform or transport.platform
        self.clock = clock
        self.worker_id = worker_id or claims.worker_id(self)
        self.pace = pace
        self.max_attempts = max_attempts
        self.batch = batch
        self.lease = lease
        self._wake = asyncio.Event()
        self._last_sent: dict[str, float] = {}
        self._sending: set[asyncio.Task[Any]] = set()  # tasks inside ``send_now``
        self._unrecorded: list[Outcome] = []
        # Rows ``send_now`` delivered whose record is not yet committed: the next
        # question in that DM may be claimed behind them (see ``claim_lease``).
        self._delivered: set[int] = set()
        self._recorder: asyncio.Task[None] | None = None
        self._stalled = False  # a sweep found only heads still being sent
        # Told each call's result: sent, retried, ratelimited, dead, recovered (metrics).
        self.on_result = on_result or (lambda _result: None)

    def add_platform(self, renderer: Renderer, transport: Transport) -> None:
        """Deliver the rows of ``transport.platform`` too."""
        self.platforms[transport.platform] = (renderer, transport)

    def kick(self) -> None:
        """Wake the loop now: a new row was committed."""
        self._wake.set()

    def claim_lease(self, now: datetime | None = None) -> sql.Lease:
        """This sender's lease on rows it claims (as of ``now``, default its clock).

        It carries the rows delivered but not yet recorded: a professional who answers
        the moment a question arrives must not wait for a sweep because that question's
        delivery is still to be written down (Slack has it: the order is kept).
        """
        return sql.Lease(self.worker_id, (now or self.clock()) + self.lease, self._delivered)

    async def dispatch(self, tx: Tx) -> None:
        """After ``tx`` committed: wake the sweep for the rows it queued, and send the rows
        it claimed, here and now."""
        if tx.queued:
            self.kick()
        if tx.claimed:
            await self.send_now(tx.claimed)

    async def send_now(self, rows: list[OutboxRow]) -> None:
        """Deliver rows queued claimed for this process, in order, in the calling task
        (the request's own: a task of their own cost more than the work, measured)."""
        task = asyncio.current_task()
        if task is not None:
            self._sending.add(task)
        try:
            for row in rows:
                await self._send_claimed(row)
        finally:
            if task is not None:
                self._sending.discard(task)

    async def _send_claimed(self, row: OutboxRow) -> None:
        try:
            outcome = await self._deliver(row, SenderStats())
        except Exception:  # noqa: BLE001 - the lease runs out and a sweep retries it
            log.exception("outbox row %s: sending failed", row.id)
            return
        # Appended after the await: the recorder swaps in a new list while we wait.
        self._unrecorded.append(outcome)
        if outcome.kind == "sent":
            self._delivered.add(row.id)
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.get_running_loop().create_task(self._record_sent_now())

    async def _record_sent_now(self) -> None:
        # Deliveries finishing while one batch is written wait for the next: under load
        # one transaction records many.
        while self._unrecorded:
            await asyncio.sleep(0)
            batch, self._unrecorded = self._unrecorded, []
            try:
                await self.runner.run(lambda tx, b=batch: self._record(tx, b))  # type: ignore[misc]
            except Exception:  # noqa: BLE001 - unrecorded rows are recovered after the lease
                log.exception("outbox: recording %d deliveries failed", len(batch))
                continue
            finally:  # recorded, or left to recovery: either way the database says
                self._delivered.difference_update(o.row.id for o in batch)
            self._log_dead(batch)
        if self._stalled:  # rows queued behind these can go now
            self._stalled = False
            self._wake.set()

    async def flush(self) -> None:
        """Wait for ``send_now`` deliveries in flight and their records (shutdown, tests)."""
        me = asyncio.current_task()
        while (self._sending - {me}) or (self._recorder is not None
                                          and not self._recorder.done()):
            await asyncio.gather(*(self._sending - {me}),
                                 *([self._recorder] if self._recorder else []),
                                 return_exceptions=True)

    async def run_forever(self, stop: asyncio.Event, *, idle: float = 1.0) -> None:
        """Deliver until ``stop`` is set; sleeps only when there is nothing due."""
        await claims.release(self.runner, "outbox", self.clock())
        try:
            await self._sweep_forever(stop, idle)
        finally:
            await self.flush()

    async def _sweep_forever(self, stop: asyncio.Event, idle: float) -> None:
        while not stop.is_set():
            kicked = self._wake.is_set()
            self._wake.clear()  # before the sweep: a kick during it is not lost
            try:
                stats = await self.run_once()
                busy = stats.sent or stats.retried or stats.dead
            except Exception:  # noqa: BLE001 - a bad sweep must not stop the loop
                log.exception("outbox sweep failed")
                busy = False
            if busy:
                continue
            # Kicked for a row that found its channel's head still being sent by
            # ``send_now``: recording that delivery wakes the sweep again.
            self._stalled = kicked
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=idle)
            except TimeoutError:
                pass

    async def run_once(self, now: datetime | None = None) -> SenderStats:
        """One sweep: claim the next due row of each channel and deliver them."""
        stats = SenderStats()
        while True:
            at = now or self.clock()
            rows, _ = await self.runner.run(functools.partial(self._claim, now=at))
            if not rows:
                return stats
            outcomes = await asyncio.gather(*(self._deliver(row, stats) for row in rows))
            # One transaction records the whole round (sent, retry, dead): a write per
            # message made the sender the busiest writer on SQLite.
            await self.runner.run(lambda tx, o=outcomes: self._record(tx, o))  # type: ignore[misc]
            self._log_dead(outcomes)

    # --- claiming -------------------------------------------------------

    def _claim(self, tx: Tx, *, now: datetime) -> list[OutboxRow]:
        return sql.claim_heads(tx.cx, now, self.claim_lease(now), self.batch)

    # --- delivery -------------------------------------------------------

    async def _deliver(self, row: OutboxRow, stats: SenderStats) -> Outcome:
        """Try one row; say what to record (recording happens once per round)."""
        now = self.clock()
        # Claimed from "sending": its sender died mid-call, or its last call's outcome
        # was unknown, so the platform may have it already.
        intent = intents.intent_of(row)
        if row.platform not in self.platforms:
            log.error("outbox row %s: no transport for platform %r", row.id, row.platform)
            return Outcome(row, "dead", error=f"no transport for {row.platform!r}")
        renderer, transport = self.platforms[row.platform]
        findable = transport.findable(intent)
        searching = row.status == "sending" and findable
        try:
            if renderer.needs_rows(row):
                call = await self.runner.read(lambda cx: renderer.prepare(cx, row, now))
            else:  # drawn from its data alone: no read
                call = renderer.prepare(None, row, now)
            if call is None:  # nothing to send any more (e.g. the subject was purged)
                return Outcome(row, "sent", data=Delivered(), error="skipped")
            if searching:
                found = await transport.find(row, call)
                if found is not None:
                    stats.recovered += 1
                    self.on_result("recovered")
                    return Outcome(row, "sent", data=found)
                searching = False  # the platform does not have it: from here on, a send
            await self._pace(row.channel)
            if intents.kind(intent) == intents.UPDATE:
                data = await transport.update(row, call)
            else:
                data = await transport.send(row, call)
            self.on_result("sent")
            stats.sent += 1
            return Outcome(row, "sent", data=data)
        except NotReady:
            stats.retried += 1
            # A row to be searched for stays so while it waits.
            return Outcome(row, "unsure" if searching else "retry",
                           at=now + timedelta(seconds=2), error="waiting", counts=False)
        except UnknownIntent as exc:
            log.error("outbox row %s: %s", row.id, exc)
            stats.dead += 1
            self.on_result("dead")
            return Outcome(row, "dead", error=f"unknown intent: {exc}")
        except SearchTooLong as exc:
            log.error("outbox row %s: %s; not resent, left for a person to check", row.id, exc)
            stats.dead += 1
            self.on_result("dead")
            return Outcome(row, "dead", error=f"unconfirmed: {exc}")
        except Exception as exc:
            failure = transport.failure(exc)
            if failure is None:
                raise  # a bug, not the platform: logged by the caller, retried after the lease
            return self._failed(row, now, failure, stats, searching=searching,
                                findable=findable)

    async def resolve_channel(self, user_id: str) -> str:
        """The direct conversation with a person (for listeners that answer privately)."""
        return await self.transport.conversation(user_id)

    async def _pace(self, channel: str) -> None:
        if self.pace <= 0:
            return
        loop = asyncio.get_running_loop()
        wait = self._last_sent.get(channel, 0.0) + self.pace - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last_sent[channel] = loop.time()

    def _failed(
        self, row: OutboxRow, now: datetime, failure: Failure, stats: SenderStats, *,
        searching: bool = False, findable: bool = False,
    ) -> Outcome:
        """What to record for a failed call; ``searching``: it was the search for the row."""
        error = failure.error
        backoff = timedelta(seconds=min(300, 2 ** min(row.attempts, 8)))
        delay = (failure.retry_after or backoff if failure.kind == Failure.RATELIMITED
                 else None if failure.kind == Failure.PERMANENT else backoff)
        # A rate limit is the platform saying "wait", not a failure: no attempt used up.
        counts = failure.kind != Failure.RATELIMITED
        # The platform may have the post if the search could not tell, or if the post
        # itself was cut off or failed on its side; a rate limit or an error answer means
        # it was not taken. Either way the next try searches first.
        unsure = findable and (searching or (counts and failure.maybe_taken))
        if unsure:
            error = f"unconfirmed: {error}"
        stats.errors.append(error)
        if delay is None or (counts and row.attempts >= self.max_attempts):
            stats.dead += 1
            self.on_result("dead")
            return Outcome(row, "dead", error=error)
        self.on_result("retried" if counts else "ratelimited")
        stats.retried += 1
        return Outcome(row, "unsure" if unsure else "retry", at=now + delay, error=error,
                       counts=counts)

    # --- recording ------------------------------------------------------

    def _record(self, tx: Tx, outcomes: list[Outcome]) -> None:
        sent = [o for o in outcomes if o.kind == "sent"]
        if sent:
            sql.mark_sent(tx.cx, self.worker_id, self.clock(), [
                (o.row.id, o.data.message_id if o.data else None, o.error or None)
                for o in sent
            ])
            if self.on_sent is not None:
                for o in sent:
                    self.on_sent(tx, o.row, o.data or Delivered())
        for o in outcomes:
            if o.kind == "retry":
                sql.mark_retry(tx.cx, self.worker_id, o.row.id, o.at or self.clock(), o.error,
                               counts=o.counts)
            elif o.kind == "unsure":
                sql.mark_unsure(tx.cx, self.worker_id, o.row.id, o.at or self.clock(), o.error,
                                counts=o.counts)
            elif o.kind == "dead":
                self._dead(tx, o.row, o.error)

    @staticmethod
    def _log_dead(outcomes: list[Outcome]) -> None:
        for o in outcomes:
            if o.kind == "dead":
                log.error("outbox row %s is dead: %s", o.row.id, o.error)

    def _dead(self, tx: Tx, row: OutboxRow, error: str) -> None:
        if not sql.mark_dead(tx.cx, self.worker_id, row.id, error):
            return  # another sender took it over after this one's lease ran out
        tx.audit(actor="frontdoor", action="outbox.dead", subject_type="outbox",
                 subject_id=row.id, new=error[:200])
        if self.escalation_channel and not row.idempotency_key.startswith("alert:"):
            intents.queue(
                tx, intents.DEAD_LETTER, key=f"alert:outbox:{row.id}",
                to=intents.conversation(self.escalation_channel),
                data={"about": intents.Address.of(row).id, "attempts": row.attempts,
                      "error": error, "row": row.id,
                      "unconfirmed": error.startswith("unconfirmed")},
                not_before=self.clock(),  # due on the sender's own clock, as its retries are
                platform=self.escalation_platform,
            )
