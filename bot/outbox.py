"""The outbox sender: every outgoing Slack call is a row first, delivered here.

Rows are claimed in order per channel (a card's update never overtakes its
post), paced per channel, retried on 429 (after Retry-After), 5xx and network
errors with backoff, and marked dead after the last attempt, with an alert to
the escalation channel.

Exactly once: a message carries its outbox key as metadata. A post whose outcome
is unknown (its sender died mid-call, or the call was cut off, timed out or got a
5xx, any of which may follow Slack storing it) stays ``sending``, and whoever
claims it next first searches the channel (or thread) for its key, paging back to
a little before the row was queued. A search that fails is "not known yet": the
row waits (a 429's Retry-After, else backoff) and is searched for again; it is
never a reason to send. A search that would have to read more than
``SEARCH_PAGES`` pages gives up: the row is dead, with an alert, not resent blind.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.engine import Engine

from store import claims, sql
from store.runner import TxRunner
from store.sql import OutboxRow
from store.tx import Tx
from store.types import utcnow

log = logging.getLogger("frontdoor.outbox")

METADATA_EVENT = "frontdoor_outbox"
# Errors that no retry will fix: give up at once and alert.
PERMANENT = {
    "channel_not_found", "not_in_channel", "is_archived", "invalid_blocks", "invalid_arguments",
    "msg_too_long", "no_text", "invalid_auth", "not_authed", "account_inactive", "user_not_found",
    "cant_update_message", "message_not_found", "unknown_method", "missing_scope",
    "invalid_trigger_id", "not_allowed_token_type", "restricted_action",
}

# Payload keys that make a row an instruction for ``prepare`` (drawn from the
# database when it is sent); any other row is sent as it was queued.
INSTRUCTIONS = ("render", "thread_of", "ts_of")

LEGACY = "slack_call"  # a row the release before intents queued (migration 0005)
POST = "chat.postMessage"  # the one call that is searched for: the others are not
# A search goes back to this long before the row was queued: our clock and Slack's
# may disagree a little, and a message older than its row cannot be it.
SEARCH_SKEW = timedelta(minutes=5)
SEARCH_PAGE = 200  # messages a page (Slack's advice for conversations.history)
# 50 pages: 10,000 messages since the row was queued, about a minute of Tier 3 calls.
# Past that a person should look: a blind resend could duplicate what Slack has.
SEARCH_PAGES = 50

Prepare = Callable[[sql.Cx, OutboxRow, datetime], dict[str, Any] | None]
OnSent = Callable[[Tx, OutboxRow, dict[str, Any]], None]


@dataclass
class Outcome:
    """What happened to one row in a round, to be recorded with the others."""

    row: OutboxRow
    kind: str  # sent | retry | unsure (retry, searching Slack first) | dead
    data: dict[str, Any] | None = None
    at: datetime | None = None
    error: str = ""
    counts: bool = True


class NotReady(Exception):
    """A row depends on something not yet delivered (e.g. the card's own post)."""


class SearchTooLong(Exception):
    """Too much history since the row was queued to tell whether Slack has it."""


@dataclass
class SenderStats:
    """Counts for the last sweep (tests and benchmarks read them)."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    recovered: int = 0
    errors: list[str] = field(default_factory=list)


class OutboxSender:
    """Delivers outbox rows through the Web API client.

    Two ways in: the sweep (``run_once``) claims each channel's due head; and
    ``send_now`` takes rows a request queued already claimed for this process
    (``Tx.enqueue(claim=True)``), so the professional's next question goes out
    without waiting for a sweep. Both record outcomes in batches.
    """

    def __init__(
        self,
        engine: Engine,
        client: AsyncWebClient,
        *,
        prepare: Prepare | None = None,
        on_sent: OnSent | None = None,
        escalation_channel: str = "",
        clock: Callable[[], datetime] = utcnow,
        worker_id: str | None = None,
        pace: float = 1.0,
        max_attempts: int = 15,
        batch: int = 50,
        lease: timedelta = timedelta(seconds=60),
        runner: TxRunner | None = None,
        on_result: Callable[[str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.runner = runner or TxRunner(engine)
        self.client = client
        self.prepare = prepare or (lambda _s, row, _now: dict(row.payload))
        self.on_sent = on_sent
        self.escalation_channel = escalation_channel
        self.clock = clock
        self.worker_id = worker_id or claims.worker_id(self)
        self.pace = pace
        self.max_attempts = max_attempts
        self.batch = batch
        self.lease = lease
        self._wake = asyncio.Event()
        self._last_sent: dict[str, float] = {}
        self._dm_channels: dict[str, str] = {}
        self._sending: set[asyncio.Task[Any]] = set()  # tasks inside ``send_now``
        self._unrecorded: list[Outcome] = []
        # Rows ``send_now`` delivered whose record is not yet committed: the next
        # question in that DM may be claimed behind them (see ``claim_lease``).
        self._delivered: set[int] = set()
        self._recorder: asyncio.Task[None] | None = None
        self._stalled = False  # a sweep found only heads still being sent
        # Told each call's result: sent, retried, ratelimited, dead, recovered (metrics).
        self.on_result = on_result or (lambda _result: None)

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
        if row.intent == LEGACY:  # queued by the release before intents: sent as queued
            row = dataclasses.replace(row, intent=row.payload["method"],
                                      payload=dict(row.payload["args"]))
        # Claimed from "sending": its sender died mid-call, or its last call's outcome
        # was unknown, so Slack may have it already.
        searching = row.status == "sending" and row.intent == POST
        try:
            if any(k in row.payload for k in INSTRUCTIONS):
                args = await self.runner.read(lambda cx: self.prepare(cx, row, now))
            else:  # sent as queued: nothing to draw from the database
                args = dict(row.payload)
            if args is None:  # nothing to send any more (e.g. the subject was purged)
                return Outcome(row, "sent", data={"ok": True}, error="skipped")
            if searching:
                found = await self._find_delivered(row, args)
                if found is not None:
                    stats.recovered += 1
                    self.on_result("recovered")
                    return Outcome(row, "sent", data=found)
                searching = False  # Slack does not have it: from here on, a send
            await self._pace(row.channel)
            data = await self._call(row, args)
            self.on_result("sent")
            stats.sent += 1
            return Outcome(row, "sent", data=data)
        except NotReady:
            stats.retried += 1
            # A row to be searched for stays so while it waits.
            return Outcome(row, "unsure" if searching else "retry",
                           at=now + timedelta(seconds=2), error="waiting", counts=False)
        except SearchTooLong as exc:
            log.error("outbox row %s: %s; not resent, left for a person to check", row.id, exc)
            stats.dead += 1
            self.on_result("dead")
            return Outcome(row, "dead", error=f"unconfirmed: {exc}")
        except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            return self._failed(row, now, exc, stats, searching=searching)

    async def _call(self, row: OutboxRow, args: dict[str, Any]) -> dict[str, Any]:
        if row.intent in (POST, "chat.update", "chat.postEphemeral"):
            args["channel"] = await self.resolve_channel(args["channel"])
        if row.intent == POST:
            args.setdefault(
                "metadata",
                {"event_type": METADATA_EVENT, "event_payload": {"key": row.idempotency_key}},
            )
        if row.intent == "files.upload_v2":
            if "content_b64" in args:  # file bytes travel base64-encoded in the JSON payload
                args["content"] = base64.b64decode(args.pop("content_b64"))
            resp = await self.client.files_upload_v2(**args)
        else:
            resp = await self.client.api_call(row.intent, json=args)
        return dict(resp.data) if isinstance(resp.data, dict) else {"ok": True}

    async def resolve_channel(self, channel: str) -> str:
        """A channel ID; a user ID is turned into the DM channel with that user (cached)."""
        # Rows address a person by user ID; the DM channel is looked up once.
        if not channel.startswith(("U", "W")):
            return channel
        if channel not in self._dm_channels:
            resp = await self.client.conversations_open(users=channel)
            self._dm_channels[channel] = resp["channel"]["id"]
        return self._dm_channels[channel]

    async def _find_delivered(
        self, row: OutboxRow, args: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The message Slack has for ``row`` (by the key in its metadata), or None when
        Slack does not have it. An API error is raised, not taken for "not there"."""
        channel = await self.resolve_channel(args["channel"])
        kwargs: dict[str, Any] = {
            "channel": channel, "limit": SEARCH_PAGE, "include_all_metadata": True,
        }
        if row.created_at is not None:
            kwargs["oldest"] = f"{(row.created_at - SEARCH_SKEW).timestamp():.6f}"
        thread_ts = args.get("thread_ts")
        for _ in range(SEARCH_PAGES):
            try:
                if thread_ts:
                    resp = await self.client.conversations_replies(ts=thread_ts, **kwargs)
                else:
                    resp = await self.client.conversations_history(**kwargs)
            except SlackApiError as exc:
                if not thread_ts or _error_of(exc) != "thread_not_found":
                    raise
                # Slack posts a reply to a thread that is gone as a message of its own.
                thread_ts = None
                kwargs.pop("cursor", None)
                continue
            for msg in resp.get("messages") or []:
                meta = msg.get("metadata") or {}
                if (meta.get("event_payload") or {}).get("key") == row.idempotency_key:
                    return {"ok": True, "channel": channel, "ts": msg.get("ts"), "message": msg}
            kwargs["cursor"] = (resp.get("response_metadata") or {}).get("next_cursor") or ""
            if not kwargs["cursor"]:
                return None
        raise SearchTooLong(f"more than {SEARCH_PAGES * SEARCH_PAGE} messages to search")

    async def _pace(self, channel: str) -> None:
        if self.pace <= 0:
            return
        loop = asyncio.get_running_loop()
        wait = self._last_sent.get(channel, 0.0) + self.pace - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last_sent[channel] = loop.time()

    def _failed(
        self, row: OutboxRow, now: datetime, exc: Exception, stats: SenderStats, *,
        searching: bool = False,
    ) -> Outcome:
        """What to record for a failed call; ``searching``: it was the search for the row."""
        error, delay = _classify(exc, row.attempts)
        # A 429 is Slack saying "wait", not a failure: it does not use up an attempt.
        counts = error != "ratelimited"
        # Slack may have the post if the search could not tell, or if the post itself
        # was cut off or failed on Slack's side; a 429 or an API error means it was not
        # taken. Either way the next try searches first.
        unsure = row.intent == POST and (searching or (counts and _maybe_taken(exc)))
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
                (o.row.id, (o.data or {}).get("ts") or (o.data or {}).get("message_ts"),
                 o.error or None) for o in sent
            ])
            if self.on_sent is not None:
                for o in sent:
                    self.on_sent(tx, o.row, o.data or {})
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
            what = ("could not tell whether Slack has a message to" if
                    error.startswith("unconfirmed") else "could not deliver a message to")
            text = (
                f":warning: Front Door {what} <#{row.channel}> "
                f"after {row.attempts} attempts ({error[:100]}). "
                f"Outbox row {row.id}: check the bot's log and Slack's status."
            )
            tx.enqueue(
                key=f"alert:outbox:{row.id}", intent=POST,
                payload={"channel": self.escalation_channel, "text": text},
                not_before=self.clock(),  # due on the sender's own clock, as its retries are
            )


def _error_of(exc: SlackApiError) -> str:
    """Slack's error code; "" when the answer had none (a proxy's 5xx page is text)."""
    data = exc.response.data if exc.response else None
    return str(data.get("error", "")) if isinstance(data, dict) else ""


def _maybe_taken(exc: Exception) -> bool:
    """Whether Slack may have acted on a call that failed with ``exc``: a 5xx, or no
    answer at all (cut off, timed out); an ``ok: false`` answer means it did not."""
    if isinstance(exc, SlackApiError):
        return getattr(exc.response, "status_code", 200) >= 500
    return True


def _classify(exc: Exception, attempts: int) -> tuple[str, timedelta | None]:
    """An error's name and how long to wait before retrying (None: never)."""
    backoff = timedelta(seconds=min(300, 2 ** min(attempts, 8)))
    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", 200)
        error = _error_of(exc)
        if status == 429 or error == "ratelimited":
            retry_after = exc.response.headers.get("Retry-After") if exc.response else None
            seconds = int(retry_after) if retry_after and str(retry_after).isdigit() else 30
            return "ratelimited", timedelta(seconds=max(1, seconds))
        if status >= 500:
            return f"http {status}", backoff
        if error in PERMANENT:
            return error, None
        return error or f"http {status}", backoff
    return f"{type(exc).__name__}: {exc}"[:200], backoff

