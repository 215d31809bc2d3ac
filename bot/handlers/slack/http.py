"""Slack's HTTP endpoint (``POST /slack/events``) and Socket Mode connection, for the server
to mount: every request's signature checked on the raw bytes, the door (who and once)
before Bolt, Bolt's answer as aiohttp's."""

from __future__ import annotations

import contextvars
import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.web_response import StreamResponse
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import Clock, SignatureVerifier

from bot import logs, replay
from bot.handlers.slack import inbound
from bot.handlers.slack.client import make_client
from bot.handlers.slack.door import Door, SocketModeDoor
from bot.handlers.slack.members import Members
from bot.metrics import request_kind
from bot.services import Services

log = logging.getLogger("frontdoor.server")
PATH = "/slack/events"
MAX_BODY = 1024 * 1024  # Slack's payloads are far smaller; refuse anything bigger
# A Slack request's kind, for the metrics: set by the handler, read by ``observed``
# (the same task). aiohttp's typed request keys need aiohttp 3.14.
_kind: contextvars.ContextVar[str] = contextvars.ContextVar("kind", default="unknown")


class _Wall(Clock):
    """slack_sdk's clock for the signature's age, from ``wall``."""

    def __init__(self, wall: Callable[[], float]) -> None:
        self.wall = wall

    def now(self) -> float:
        """Seconds since the epoch."""
        return self.wall()


def _delivery_key(request: web.Request) -> str | None:
    """What makes this delivery's request id: its timestamp and signature (a retry of the
    same delivery, re-signed, gets a new one); None when it has neither."""
    ts = request.headers.get("X-Slack-Request-Timestamp", "")
    sig = request.headers.get("X-Slack-Signature", "")
    return f"{ts}:{sig}" if ts and sig else None


def make_door(sv: Services, wall: Callable[[], float] = time.time) -> Door:
    """The process's door, with its own Web API client for ``users.info``: no retries
    and a short timeout, as Slack waits 3 s for the answer to the request it checks."""
    client = make_client(sv.settings.bot_token, sv.settings.api_url, sv.http, max_retries=0)
    client.timeout = 2
    return Door(sv.tx, Members(client), now=lambda: datetime.fromtimestamp(wall(), UTC))


def mount(web_app: web.Application, app: AsyncApp, sv: Services, *,
          wall: Callable[[], float] = time.time) -> None:
    """Slack's endpoint on ``web_app`` (before it starts), counted in the metrics. ``wall``
    is real time, for the signature's age and the replay keys (tests move it)."""
    verifier = SignatureVerifier(sv.settings.signing_secret, clock=_Wall(wall))
    door = make_door(sv, wall)

    async def events(request: web.Request) -> web.Response:
        if request.content_length and request.content_length > MAX_BODY:
            return web.Response(status=413, text="payload too large")
        raw = await request.read()
        # Check the signature on the raw bytes first: a forged request is refused as
        # forged (401) whatever it contains.
        if not _signed(verifier, raw, request.headers):
            return web.Response(status=401, text="invalid signature")
        try:
            bolt_req = inbound.decode(raw, request.charset, request.headers,
                                      request.query_string)
        except (UnicodeDecodeError, LookupError, ValueError, TypeError, AttributeError,
                KeyError, IndexError, RecursionError):
            # Bolt's parser assumes a well-formed body; a signed but malformed one
            # (e.g. a JSON list, or nested past the parser's stack) is the sender's error.
            return web.Response(status=400, text="bad request")
        _kind.set(request_kind(bolt_req.body))  # for the metrics (``observed``)
        # The signature is unique per body and timestamp: the request's once-key.
        once = replay.key("sig", request.headers["X-Slack-Signature"])
        answer = await door.admit(bolt_req.body, once)
        if answer is not None:
            return web.Response(status=answer.status, text=answer.text)
        resp = await app.async_dispatch(bolt_req)
        if resp.status == 404:  # no listener: nothing ran
            await door.ran_nothing(once)
        return await to_aiohttp_response(resp)

    @web.middleware
    async def observed(request: web.Request, handler: Any) -> StreamResponse:
        # A request id for everything this request runs (its listener's work after the
        # ack too: asyncio copies the context into the task Bolt starts), and its count.
        if request.path != PATH:
            return await handler(request)  # type: ignore[no-any-return]
        logs.start_request(_delivery_key(request))
        _kind.set("unknown")  # until the handler has read the body
        started, status = time.perf_counter(), 500
        try:
            resp: StreamResponse = await handler(request)
            status = resp.status
            return resp
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            seconds = time.perf_counter() - started
            kind = _kind.get()
            sv.metrics.request(kind, status, seconds)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s request answered %d in %.1f ms", kind, status, seconds * 1000)

    web_app.middlewares.append(observed)
    web_app.router.add_post(PATH, events)


async def socket_mode(app: AsyncApp, sv: Services, *,
                      wall: Callable[[], float] = time.time) -> SocketModeDoor:
    """Connect to Slack in Socket Mode (``close_async()`` it at the end)."""
    handler = SocketModeDoor(app, sv.settings.app_token, make_door(sv, wall))
    handler.client.web_client = sv.client
    await handler.connect_async()
    return handler


_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


def _signed(verifier: SignatureVerifier, raw: bytes, headers: Any) -> bool:
    """Whether Slack signed ``raw``; anything else (a forged, stale or absurd header)
    is False, so the request is a 401 and one access-log line, never a traceback."""
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    # A timestamp of hundreds of digits overflowed a float in slack_sdk's age check.
    if not (_TIMESTAMP.fullmatch(timestamp) and _SIGNATURE.fullmatch(signature)):
        return False
    try:
        return verifier.is_valid(body=raw, timestamp=timestamp, signature=signature)
    except (ValueError, TypeError, OverflowError):
        return False
