"""Teams' transport for the outbox sender: Bot Connector REST calls (v3), Teams' errors,
and what stands in for a search.

Calls go over the process's one aiohttp session with the bot's token
(``bot.handlers.teams.auth``), paced per conversation. Retries are the outbox's, never
the HTTP client's: ``failure`` says what each error means and the sender schedules it
(429, and 412/5xx with a Retry-After, wait that long plus jitter; other 5xx back off;
400/401/403/404/413 are permanent: dead, with an alert).

Exactly once: the Bot Connector cannot be searched by our key, so the transport writes
each new message's activity id down (``journal``) the moment Teams answers, before the
sender records the row as sent; ``find`` reads that note. A row claimed again (its
sender died, or its call's outcome was unknown) is thus not resent once its activity id
was written down. What remains, and is resent (a duplicate), is a message Teams stored
whose id we never wrote down: the sender died between Teams storing it and our commit
(milliseconds), or the call was cut off or failed (a timeout, a dropped connection, a
5xx) after Teams had stored it. An error answer is taken to mean Teams did not store it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from bot import intents
from bot.handlers.teams.auth import Tokens
from bot.handlers.teams.conversations import Reference, References, reference, remember
from bot.handlers.teams.journal import Journal
from bot.handlers.teams.render import TeamsCall  # the renderer's, as Slack's transport does
from bot.outbox import Delivered, Failure
from store.sql import OutboxRow

log = logging.getLogger("frontdoor.teams")

# Answers no retry will fix (Teams' status codes for the conversational APIs).
PERMANENT = {400, 401, 403, 404, 405, 413}
# The wait when Teams says "too many" without saying how long.
DEFAULT_RETRY_AFTER = 1.0
# Up to this share of the wait is added at random, so rows told to wait together do not
# all come back in the same instant.
JITTER = 0.2
# Teams allows about 7 messages a second in one conversation; stay well under.
PACE = 0.25
TIMEOUT = aiohttp.ClientTimeout(total=30)


class ConnectorError(Exception):
    """An error answer from the Bot Connector (or the token endpoint)."""

    def __init__(self, status: int, code: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {code}".strip())
        self.status, self.code, self.retry_after = status, code, retry_after


class TokenUnavailable(Exception):
    """No token could be had (Entra down, or the app's password refused): nothing sent."""


class TeamsTransport:
    """Sends ``TeamsCall``s through the Bot Connector."""

    platform = "teams"

    def __init__(self, http: aiohttp.ClientSession, tokens: Tokens, *, service_url: str,
                 tenant_id: str, app_id: str, references: References, journal: Journal,
                 pace: float = PACE, rng: random.Random | None = None) -> None:
        self.http = http
        self.tokens = tokens
        self.service_url = service_url.rstrip("/") + "/"
        self.tenant_id = tenant_id
        self.bot_id = f"28:{app_id}"
        self.references = references
        self.journal = journal
        self.pace = pace
        self.rng = rng or random.Random()
        self._last: dict[str, float] = {}
        self._pacing: dict[str, asyncio.Lock] = {}

    @staticmethod
    def findable(intent: str) -> bool:
        """New messages are "found" in our own note of their activity id."""
        return intents.kind(intent) == intents.POST

    async def send(self, row: OutboxRow, call: TeamsCall) -> Delivered:
        """Send a new message (or a reply in a thread); its activity id is written down
        before this returns."""
        conversation = await self._where(call)
        path = f"v3/conversations/{_q(conversation)}/activities"
        if call.reply_to:
            path += f"/{_q(call.reply_to)}"
        await self._paced(conversation)
        answer = await self._call("POST", self._service(call), path, call.activity)
        where = Delivered(conversation, str(answer.get("id") or "") or None)
        if where.message_id and intents.posts(row):
            try:
                await self.journal.delivered(row, where)
            except Exception:  # noqa: BLE001 - the sender's own record still writes it
                log.warning("outbox row %s: its activity id could not be noted early", row.id,
                            exc_info=True)
        return where

    async def update(self, row: OutboxRow, call: TeamsCall) -> Delivered:
        """Redraw a delivered activity (``call.activity_id``) in place."""
        if not call.activity_id:
            raise ValueError(f"outbox row {row.id}: an update names no activity")
        conversation = await self._where(call)
        await self._paced(conversation)
        await self._call("PUT", self._service(call),
                         f"v3/conversations/{_q(conversation)}/activities/{_q(call.activity_id)}",
                         {**call.activity, "id": call.activity_id})
        return Delivered(conversation, call.activity_id)

    async def find(self, row: OutboxRow, call: TeamsCall) -> Delivered | None:
        """The delivery written down for ``row`` (see the module's docstring), None when
        none was: the row is sent."""
        message_id = await self.journal.noted(row)
        if message_id is None:
            return None
        conversation = await self._where(call)
        return Delivered(conversation, message_id)

    async def conversation(self, user_id: str) -> str:
        """The 1:1 chat with a person (by Entra object id): the stored one, or one created
        now and stored. A person without the app gets Teams' 403, permanent."""
        ref = reference(self.references, user_id)
        if ref is not None and ref.conversation_id:
            return ref.conversation_id
        ref = ref or Reference(user_id, self.service_url, self.tenant_id, self.bot_id)
        answer = await self._call("POST", ref.service_url, "v3/conversations", {
            "bot": {"id": ref.bot_id}, "members": [{"id": user_id}], "isGroup": False,
            "tenantId": ref.tenant_id, "channelData": {"tenant": {"id": ref.tenant_id}},
        })
        conversation_id = str(answer.get("id") or "")
        if not conversation_id:  # a malformed answer: nothing to send to yet
            raise ConnectorError(502, "NoConversationId")
        remember(self.references, Reference(
            user_id, ref.service_url, ref.tenant_id, ref.bot_id, conversation_id))
        return conversation_id

    def failure(self, exc: BaseException) -> Failure | None:
        """What a failed call means for a retry; None: not a failure of Teams' (a bug)."""
        if isinstance(exc, ConnectorError):
            error = f"http {exc.status} {exc.code}".strip()
            if exc.status == 429 or (exc.retry_after is not None
                                     and exc.status in (412, 502, 503, 504)):
                return Failure(error, Failure.RATELIMITED,
                               retry_after=self._jittered(exc.retry_after))
            if exc.status in PERMANENT:
                return Failure(error, Failure.PERMANENT)
            # 412 and 5xx without a wait: the outbox backs off. Teams answered, so it
            # did not store the message (the module's docstring says what if it did).
            return Failure(error, Failure.RETRY)
        if isinstance(exc, TokenUnavailable):
            return Failure(f"no token: {exc}"[:200], Failure.RETRY)
        if isinstance(exc, aiohttp.ClientConnectorError):
            # Never connected: nothing reached Teams.
            return Failure(f"{type(exc).__name__}: {exc}"[:200], Failure.RETRY)
        if isinstance(exc, aiohttp.ClientError | TimeoutError | OSError):
            # Cut off or timed out: Teams may have it.
            return Failure(f"{type(exc).__name__}: {exc}"[:200], Failure.RETRY, maybe_taken=True)
        return None

    # --- the calls ------------------------------------------------------------------

    async def _where(self, call: TeamsCall) -> str:
        """The conversation ``call`` goes to: a person's 1:1 chat, or the one named."""
        return await self.conversation(call.conversation) if call.to_person else call.conversation

    def _service(self, call: TeamsCall) -> str:
        ref = reference(self.references, call.conversation) if call.to_person else None
        return ref.service_url if ref is not None else self.service_url

    async def _call(self, method: str, service_url: str, path: str,
                    body: dict[str, Any]) -> dict[str, Any]:
        try:
            token = await self.tokens.token()
        except Exception as exc:  # noqa: BLE001 - MSAL raises ValueError, requests' errors
            raise TokenUnavailable(str(exc)[:200] or type(exc).__name__) from exc
        url = URL(service_url.rstrip("/") + "/" + path, encoded=True)
        async with self.http.request(method, url, json=body, timeout=TIMEOUT,
                                     headers={"Authorization": f"Bearer {token}"}) as resp:
            if resp.status >= 400:
                raise ConnectorError(resp.status, await _error_code(resp),
                                     _retry_after(resp.headers.get("Retry-After")))
            try:
                answer = await resp.json(content_type=None)
            except ValueError:
                answer = None
            return answer if isinstance(answer, dict) else {}

    async def _paced(self, conversation: str) -> None:
        """At most one message a ``pace`` in a conversation (others go meanwhile)."""
        if self.pace <= 0:
            return
        lock = self._pacing.setdefault(conversation, asyncio.Lock())
        async with lock:
            loop = asyncio.get_running_loop()
            wait = self._last.get(conversation, float("-inf")) + self.pace - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last[conversation] = loop.time()

    def _jittered(self, seconds: float | None) -> timedelta:
        base = DEFAULT_RETRY_AFTER if seconds is None else max(seconds, 0.0)
        return timedelta(seconds=base + self.rng.uniform(0, JITTER * max(base, 1.0)))


def _q(part: str) -> str:
    """A conversation or activity id as one path segment (they hold ``:``, ``;``, ``@``)."""
    return quote(part, safe="")


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare from Teams; the default wait applies


async def _error_code(resp: aiohttp.ClientResponse) -> str:
    """Teams' error code (``{"error": {"code"}}``); "" when the body has none."""
    try:
        body = await resp.json(content_type=None)
    except (ValueError, aiohttp.ClientError):
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("code") or "") if isinstance(error, dict) else ""
