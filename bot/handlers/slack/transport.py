"""Slack's transport for the outbox sender: Web API calls, Slack's errors, and the search
that finds a message already delivered.

Exactly once: every new message carries its outbox key as message metadata. A post
whose outcome is unknown is looked for (``find``) in the channel (or thread) by
that key, paging back to a little before the row was queued, before it is sent
again. A search that would read more than ``SEARCH_PAGES`` pages gives up
(``SearchTooLong``): the sender marks the row dead, with an alert, rather than
resend it blind.

A file (the weekly chart) is three calls: ``files.getUploadURLExternal`` makes the
file, its bytes go to the upload URL, ``files.completeUploadExternal`` shares it. A
share message carries no metadata, so the file's id is written down on the row
(``journal``, committed) before it is shared; a retry looks for a message carrying
that file in the channel's history, and uploads afresh only when there is none (a
file made but never shared is left for Slack to discard). What remains: Slack shares
a completed file a moment after it answers, so a search within that moment of a
share whose answer was lost would miss it; the search after a crash waits for the
row's lease (a minute by default).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import intents
from bot.handlers.slack.render import DRAW, POST, UPLOAD, SlackCall
from bot.outbox import Delivered, Failure, SearchTooLong
from store.sql import OutboxRow

if TYPE_CHECKING:
    from bot.journal import Journal

METADATA_EVENT = "frontdoor_outbox"
# Errors that no retry will fix: give up at once and alert.
PERMANENT = {
    "channel_not_found", "not_in_channel", "is_archived", "invalid_blocks", "invalid_arguments",
    "msg_too_long", "no_text", "invalid_auth", "not_authed", "account_inactive", "user_not_found",
    "cant_update_message", "message_not_found", "unknown_method", "missing_scope",
    "invalid_trigger_id", "not_allowed_token_type", "restricted_action",
}
# A search goes back to this long before the row was queued: our clock and Slack's
# may disagree a little, and a message older than its row cannot be it.
SEARCH_SKEW = timedelta(minutes=5)
SEARCH_PAGE = 200  # messages a page (Slack's advice for conversations.history)
# 50 pages: 10,000 messages since the row was queued, about a minute of Tier 3 calls.
# Past that a person should look: a blind resend could duplicate what Slack has.
SEARCH_PAGES = 50


class UploadRefused(Exception):
    """The upload URL answered other than 200: the file was not stored, so not shared."""

    def __init__(self, status: int) -> None:
        super().__init__(f"upload: http {status}")
        self.status = status


class SlackTransport:
    """Sends rendered calls (``SlackCall``) through one Web API client."""

    platform = "slack"

    def __init__(self, client: AsyncWebClient, *, journal: Journal | None = None) -> None:
        self.client = client
        # Where an upload's file id is written down before it is shared; without one a
        # file whose outcome is unknown is uploaded again.
        self.journal = journal
        self._dm_channels: dict[str, str] = {}

    def findable(self, intent: str) -> bool:
        """Whether a delivery of ``intent`` can be found (new messages by their key; a row
        of the release before may be one: searched for, it is found or sent; files by
        the id the journal keeps)."""
        kind = intents.kind(intent)
        return kind == intents.POST or (kind == intents.FILE and self.journal is not None)

    async def send(self, row: OutboxRow, call: SlackCall) -> Delivered:
        """Post (or upload) ``call``; a new message carries the row's key as metadata."""
        args = dict(call.args)
        if call.dm:
            args["channel"] = await self.conversation(args["channel"])
        if call.method == UPLOAD:
            return await self._upload(row, args)
        if call.method == POST:
            args.setdefault(
                "metadata",
                {"event_type": METADATA_EVENT, "event_payload": {"key": row.idempotency_key}},
            )
        return _delivered(await self.client.api_call(call.method, json=args))

    async def _upload(self, row: OutboxRow, args: dict[str, Any]) -> Delivered:
        """Make the file, write its id down, store its bytes, then share it."""
        draw: Callable[[], bytes] | None = args.pop(DRAW, None)
        if draw is not None:  # a chart takes a good part of a second: off the event loop
            content = await asyncio.to_thread(draw)
        else:  # file bytes travel base64-encoded in the JSON payload
            content = base64.b64decode(args.pop("content_b64"))
        channel = str(args["channel"])
        made = await self.client.files_getUploadURLExternal(
            filename=args["filename"], length=len(content), alt_txt=args.get("alt_txt"))
        file_id = str(made["file_id"])
        if self.journal is not None:  # committed before the share: a retry looks for it
            await self.journal.delivered(row, Delivered(channel, file_id))
        await self._store_bytes(str(made["upload_url"]), content)
        await self.client.files_completeUploadExternal(
            files=[{"id": file_id, "title": args.get("title") or args["filename"]}],
            channel_id=channel, initial_comment=args.get("initial_comment"),
            thread_ts=args.get("thread_ts"))
        return Delivered(channel, file_id)

    async def _store_bytes(self, url: str, content: bytes) -> None:
        session = self.client.session
        if session is None:  # a client without a shared session (tests): one for this call
            async with aiohttp.ClientSession() as own:
                return await self._post_bytes(own, url, content)
        await self._post_bytes(session, url, content)

    async def _post_bytes(self, session: aiohttp.ClientSession, url: str, content: bytes
                          ) -> None:
        extra: dict[str, Any] = {k: v for k, v in (("ssl", self.client.ssl),
                                                   ("proxy", self.client.proxy)) if v}
        async with session.post(url, data=content, **extra,
                                timeout=aiohttp.ClientTimeout(total=self.client.timeout)) as resp:
            await resp.read()
            if resp.status != 200:
                raise UploadRefused(resp.status)

    async def update(self, row: OutboxRow, call: SlackCall) -> Delivered:
        """Redraw a delivered message (``call.args["ts"]``)."""
        return await self.send(row, call)

    async def conversation(self, user_id: str) -> str:
        """The DM channel with a person (opened once, then cached)."""
        if user_id not in self._dm_channels:
            resp = await self.client.conversations_open(users=user_id)
            self._dm_channels[user_id] = resp["channel"]["id"]
        return self._dm_channels[user_id]

    async def find(self, row: OutboxRow, call: SlackCall) -> Delivered | None:
        """The message Slack has for ``row`` (by the key in its metadata; a file by the id
        written down before it was shared), or None when Slack does not have it. An API
        error is raised, not taken for "not there"."""
        channel = call.args["channel"]
        if call.dm:
            channel = await self.conversation(channel)
        if call.method == UPLOAD:
            file_id = await self.journal.noted(row) if self.journal is not None else None
            if not file_id:  # no file was made, so none was shared
                return None
            found = await self._search(row, call, channel, lambda msg: any(
                f.get("id") == file_id for f in msg.get("files") or ()))
            return Delivered(channel, file_id) if found is not None else None
        return await self._search(row, call, channel, lambda msg: (
            ((msg.get("metadata") or {}).get("event_payload") or {}).get("key")
            == row.idempotency_key))

    async def _search(self, row: OutboxRow, call: SlackCall, channel: str,
                      matches: Callable[[dict[str, Any]], bool]) -> Delivered | None:
        """The first message since ``row`` was queued that ``matches``, in ``channel``
        (or the call's thread)."""
        kwargs: dict[str, Any] = {
            "channel": channel, "limit": SEARCH_PAGE, "include_all_metadata": True,
        }
        if row.created_at is not None:
            kwargs["oldest"] = f"{(row.created_at - SEARCH_SKEW).timestamp():.6f}"
        thread_ts = call.args.get("thread_ts")
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
                if matches(msg):
                    return Delivered(channel, msg.get("ts"))
            kwargs["cursor"] = (resp.get("response_metadata") or {}).get("next_cursor") or ""
            if not kwargs["cursor"]:
                return None
        raise SearchTooLong(f"more than {SEARCH_PAGES * SEARCH_PAGE} messages to search")

    @staticmethod
    def failure(exc: BaseException) -> Failure | None:
        """What a failed call means for a retry; None: not a failure of Slack's (a bug)."""
        if isinstance(exc, SlackApiError):
            status = getattr(exc.response, "status_code", 200)
            error = _error_of(exc)
            if status == 429 or error == "ratelimited":
                retry_after = exc.response.headers.get("Retry-After") if exc.response else None
                seconds = (int(retry_after) if retry_after and str(retry_after).isdigit()
                           else 30)
                return Failure("ratelimited", Failure.RATELIMITED,
                               retry_after=timedelta(seconds=max(1, seconds)))
            if status >= 500:  # Slack may have acted on it
                return Failure(f"http {status}", Failure.RETRY, maybe_taken=True)
            if error in PERMANENT:
                return Failure(error, Failure.PERMANENT)
            return Failure(error or f"http {status}", Failure.RETRY)
        if isinstance(exc, UploadRefused):  # nothing was shared: a plain retry
            return Failure(str(exc), Failure.RETRY)
        if isinstance(exc, aiohttp.ClientError | TimeoutError | OSError):
            # No answer at all (cut off, timed out): Slack may have it.
            return Failure(f"{type(exc).__name__}: {exc}"[:200], Failure.RETRY, maybe_taken=True)
        return None


def _delivered(resp: Any) -> Delivered:
    data = resp.data if isinstance(resp.data, dict) else {}
    return Delivered(data.get("channel"), data.get("ts") or data.get("message_ts"))


def _error_of(exc: SlackApiError) -> str:
    """Slack's error code; "" when the answer had none (a proxy's 5xx page is text)."""
    data = exc.response.data if exc.response else None
    return str(data.get("error", "")) if isinstance(data, dict) else ""
