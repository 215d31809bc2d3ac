"""The outbox sender: every outgoing Slack call is a row first, delivered here.

Rows are claimed in order per channel (a card's update never overtakes its
post), paced per channel, retried on 429 (after Retry-After), 5xx and network
errors with backoff, and marked dead after the last attempt, with an alert to
the escalation channel. A row whose sender died mid-call is checked against
the channel's history (the message carries its outbox key as metadata) before
it is sent again, so a crash does not produce a duplicate.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from store import repo
from store.db import is_sqlite, session_scope
from store.models import OutboxMessage
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

Prepare = Callable[[Session, OutboxMessage, datetime], dict[str, Any] | None]
OnSent = Callable[[Session, OutboxMessage, dict[str, Any]], None]


@dataclass
class Outcome:
    """What happened to one row in a round, to be recorded with the others."""

    row: OutboxMessage
    kind: str  # sent | retry | dead
    data: dict[str, Any] | None = None
    at: datetime | None = None
    error: str = ""
    counts: bool = True


class NotReady(Exception):
    """A row depends on something not yet delivered (e.g. the card's own post)."""


@dataclass
class SenderStats:
    """Counts for the last sweep (tests and benchmarks read them)."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    recovered: int = 0
    errors: list[str] = field(default_factory=list)


class OutboxSender:
    """Claims due outbox rows and delivers them through the Web API client."""

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
    ) -> None:
        self.engine = engine
        self.client = client
        self.prepare = prepare or (lambda _s, row, _now: dict(row.payload))
        self.on_sent = on_sent
        self.escalation_channel = escalation_channel
        self.clock = clock
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.pace = pace
        self.max_attempts = max_attempts
        self.batch = batch
        self.lease = lease
        self._wake = asyncio.Event()
        self._last_sent: dict[str, float] = {}
        self._dm_channels: dict[str, str] = {}

    def kick(self) -> None:
        """Wake the loop now: a new row was committed."""
        self._wake.set()

    async def run_forever(self, stop: asyncio.Event, *, idle: float = 1.0) -> None:
        """Deliver until ``stop`` is set; sleeps only when there is nothing due."""
        while not stop.is_set():
            try:
                stats = await self.run_once()
                busy = stats.sent or stats.retried or stats.dead
            except Exception:  # noqa: BLE001 - a bad sweep must not stop the loop
                log.exception("outbox sweep failed")
                busy = False
            if not busy:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=idle)
                except TimeoutError:
                    pass

    async def run_once(self, now: datetime | None = None) -> SenderStats:
        """One sweep: claim the next due row of each channel and deliver them."""
        stats = SenderStats()
        while True:
            rows = await asyncio.to_thread(self._claim, now or self.clock())
            if not rows:
                return stats
            outcomes = await asyncio.gather(*(self._deliver(row, stats) for row in rows))
            # One transaction records the whole round (sent, retry, dead): a write per
            # message made the sender the busiest writer on SQLite.
            await asyncio.to_thread(self._record, outcomes)

    # --- claiming -------------------------------------------------------

    def _claim(self, now: datetime) -> list[OutboxMessage]:
        # Each channel's oldest open row is its head: only a due head is sent, so a
        # card's update never overtakes its post, and a head in backoff holds its
        # channel. Finding heads with MIN(id) per channel on (channel, status, id)
        # stays cheap however long a channel's backlog grows.
        head = (
            select(OutboxMessage.channel, func.min(OutboxMessage.id).label("id"))
            .where(OutboxMessage.status.in_(("pending", "sending")))  # type: ignore[attr-defined]
            .group_by(OutboxMessage.channel)
            .subquery()
        )
        due = (
            (OutboxMessage.status == "pending") & (OutboxMessage.next_attempt_at <= now)
        ) | (  # a sender that died mid-call left its lease to expire
            (OutboxMessage.status == "sending") & (OutboxMessage.claimed_until < now)
        )
        stmt = (
            select(OutboxMessage)
            .join(head, OutboxMessage.id == head.c.id)  # type: ignore[arg-type]
            .where(due)
            .order_by(OutboxMessage.id)  # type: ignore[arg-type]
            .limit(self.batch)
        )
        with session_scope(self.engine, write=True) as s:
            if not is_sqlite(self.engine):
                stmt = stmt.with_for_update(skip_locked=True, of=OutboxMessage)  # type: ignore[arg-type]
            rows = list(s.exec(stmt).scalars())  # type: ignore[call-overload]
            seen: set[str] = set()
            claimed = []
            for row in rows:
                if row.channel in seen:
                    continue  # one row per channel per round keeps the order
                seen.add(row.channel)
                s.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == row.id)  # type: ignore[arg-type]
                    .values(
                        status="sending",
                        claimed_by=self.worker_id,
                        claimed_until=now + self.lease,
                        attempts=OutboxMessage.attempts + 1,
                    )
                    .execution_options(synchronize_session=False)
                )
                claimed.append(row)
            # Work on detached copies: nothing below may be flushed back by accident.
            s.expunge_all()
            for row in claimed:
                row.attempts += 1  # status stays as read: "sending" means a recovery
            return claimed

    # --- delivery -------------------------------------------------------

    async def _deliver(self, row: OutboxMessage, stats: SenderStats) -> Outcome:
        """Try one row; say what to record (recording happens once per round)."""
        now = self.clock()
        # Claimed from "sending": its sender died mid-call, so Slack may have it already.
        recovering = row.status == "sending"
        try:
            args = await asyncio.to_thread(self._prepare, row, now)
            if args is None:  # nothing to send any more (e.g. the subject was purged)
                return Outcome(row, "sent", data={"ok": True}, error="skipped")
            if recovering and row.method == "chat.postMessage":
                found = await self._find_delivered(row, args)
                if found is not None:
                    stats.recovered += 1
                    return Outcome(row, "sent", data=found)
            await self._pace(row.channel)
            data = await self._call(row, args)
            stats.sent += 1
            return Outcome(row, "sent", data=data)
        except NotReady:
            stats.retried += 1
            return Outcome(row, "retry", at=now + timedelta(seconds=2), error="waiting",
                           counts=False)
        except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            return self._failed(row, now, exc, stats)

    def _prepare(self, row: OutboxMessage, now: datetime) -> dict[str, Any] | None:
        with session_scope(self.engine) as s:
            return self.prepare(s, row, now)

    async def _call(self, row: OutboxMessage, args: dict[str, Any]) -> dict[str, Any]:
        if row.method in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
            args["channel"] = await self.resolve_channel(args["channel"])
        if row.method == "chat.postMessage":
            args.setdefault(
                "metadata",
                {"event_type": METADATA_EVENT, "event_payload": {"key": row.idempotency_key}},
            )
        if row.method == "files.upload_v2":
            if "content_b64" in args:  # file bytes travel base64-encoded in the JSON payload
                args["content"] = base64.b64decode(args.pop("content_b64"))
            resp = await self.client.files_upload_v2(**args)
        else:
            resp = await self.client.api_call(row.method, json=args)
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
        self, row: OutboxMessage, args: dict[str, Any]
    ) -> dict[str, Any] | None:
        try:
            channel = await self.resolve_channel(args["channel"])
            kwargs: dict[str, Any] = {
                "channel": channel, "limit": 100, "include_all_metadata": True,
            }
            if args.get("thread_ts"):
                resp = await self.client.conversations_replies(ts=args["thread_ts"], **kwargs)
            else:
                resp = await self.client.conversations_history(**kwargs)
        except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError):
            return None  # cannot tell: sending again is safer than losing it
        for msg in resp.get("messages", []):
            meta = msg.get("metadata") or {}
            if (meta.get("event_payload") or {}).get("key") == row.idempotency_key:
                return {"ok": True, "channel": channel, "ts": msg.get("ts"), "message": msg}
        return None

    async def _pace(self, channel: str) -> None:
        if self.pace <= 0:
            return
        loop = asyncio.get_running_loop()
        wait = self._last_sent.get(channel, 0.0) + self.pace - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last_sent[channel] = loop.time()

    def _failed(
        self, row: OutboxMessage, now: datetime, exc: Exception, stats: SenderStats
    ) -> Outcome:
        error, delay = _classify(exc, row.attempts)
        stats.errors.append(error)
        # A 429 is Slack saying "wait", not a failure: it does not use up an attempt.
        counts = error != "ratelimited"
        if delay is None or (counts and row.attempts >= self.max_attempts):
            stats.dead += 1
            return Outcome(row, "dead", error=error)
        stats.retried += 1
        return Outcome(row, "retry", at=now + delay, error=error, counts=counts)

    # --- recording ------------------------------------------------------

    def _record(self, outcomes: list[Outcome]) -> None:
        with session_scope(self.engine, write=True) as s:
            for o in outcomes:
                if o.kind == "sent":
                    self._sent(s, o.row, o.data or {}, o.error)
                elif o.kind == "retry":
                    self._retry(s, o.row, o.at or self.clock(), o.error, o.counts)
                else:
                    self._dead(s, o.row, o.error)
        for o in outcomes:
            if o.kind == "dead":
                log.error("outbox row %s is dead: %s", o.row.id, o.error)

    def _sent(self, s: Session, row: OutboxMessage, data: dict[str, Any], note: str) -> None:
        ts = data.get("ts") or data.get("message_ts")
        s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id)  # type: ignore[arg-type]
            .where(OutboxMessage.claimed_by == self.worker_id)  # type: ignore[arg-type]
            .values(status="sent", result_ts=ts, sent_at=self.clock(),
                    last_error=note or None, claimed_until=None)
        )
        if self.on_sent is not None:
            self.on_sent(s, row, data)

    def _retry(
        self, s: Session, row: OutboxMessage, at: datetime, error: str, counts: bool
    ) -> None:
        s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id)  # type: ignore[arg-type]
            .values(
                status="pending",
                next_attempt_at=at,
                last_error=error[:500],
                claimed_until=None,
                attempts=OutboxMessage.attempts if counts else OutboxMessage.attempts - 1,
            )
        )

    def _dead(self, s: Session, row: OutboxMessage, error: str) -> None:
        s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id)  # type: ignore[arg-type]
            .values(status="dead", last_error=error[:500], claimed_until=None)
        )
        repo.audit(
            s, actor="frontdoor", action="outbox.dead", subject_type="outbox",
            subject_id=row.id, new=error[:200],
        )
        if self.escalation_channel and not row.idempotency_key.startswith("alert:"):
            text = (
                f":warning: Front Door could not deliver a message to <#{row.channel}> "
                f"after {row.attempts} attempts ({error[:100]}). "
                f"Outbox row {row.id}: check the bot's log and Slack's status."
            )
            repo.enqueue(
                s, key=f"alert:outbox:{row.id}", method="chat.postMessage",
                payload={"channel": self.escalation_channel, "text": text},
                not_before=self.clock(),  # due on the sender's own clock, as its retries are
            )


def _classify(exc: Exception, attempts: int) -> tuple[str, timedelta | None]:
    """An error's name and how long to wait before retrying (None: never)."""
    backoff = timedelta(seconds=min(300, 2 ** min(attempts, 8)))
    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", 200)
        error = str((exc.response.data or {}).get("error", "")) if exc.response else ""
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

