"""Running the bot: HTTP mode (``POST /slack/events``, ``GET /healthz``) or Socket Mode.

The outbox sender runs in the same process (and the reminder loop, unless
``--no-reminders``), all on one event loop with one aiohttp session.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.web_log import AccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import Clock, SignatureVerifier

from bot import inbound, replay
from bot.app import build_app
from bot.config import Settings
from bot.door import Door, SocketModeDoor
from bot.members import Members
from bot.policy import Policy, load_policy
from bot.services import Services
from bot.slack import make_client, make_session
from store import dbrole
from store.db import is_sqlite, make_engine, ping
from store.migrate import upgrade

log = logging.getLogger("frontdoor.server")
MAX_BODY = 1024 * 1024  # Slack's payloads are far smaller; refuse anything bigger
SQLITE_THREADS = 2
SWITCH_INTERVAL = 0.001  # seconds; CPython default is 0.005
YOUNG_GC_THRESHOLD = 10_000  # allocations between young collections; CPython's is 700


class _Wall(Clock):
    """slack_sdk's clock for the signature's age, from ``wall``."""

    def __init__(self, wall: Callable[[], float]) -> None:
        self.wall = wall

    def now(self) -> float:
        """Seconds since the epoch."""
        return self.wall()


def make_door(sv: Services, wall: Callable[[], float] = time.time) -> Door:
    """The process's door, with its own Web API client for ``users.info``: no retries
    and a short timeout, as Slack waits 3 s for the answer to the request it checks."""
    client = make_client(sv.settings.bot_token, sv.settings.api_url, sv.http, max_retries=0)
    client.timeout = 2
    return Door(sv.tx, Members(client), now=lambda: datetime.fromtimestamp(wall(), UTC))


def make_web_app(app: AsyncApp, sv: Services, *,
                 wall: Callable[[], float] = time.time) -> web.Application:
    """The aiohttp application: Slack's endpoint and a health check. ``wall`` is real
    time, for the signature's age and the replay keys (tests move it)."""

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
        # The signature is unique per body and timestamp: the request's once-key.
        once = replay.key("sig", request.headers["X-Slack-Signature"])
        answer = await door.admit(bolt_req.body, once)
        if answer is not None:
            return web.Response(status=answer.status, text=answer.text)
        resp = await app.async_dispatch(bolt_req)
        if resp.status == 404:  # no listener: nothing ran
            await door.ran_nothing(once)
        return await to_aiohttp_response(resp)

    async def healthz(_request: web.Request) -> web.Response:
        db = await asyncio.to_thread(ping, sv.engine)
        body = {"ok": db, "database": "reachable" if db else "unreachable",
                "authority": sv.policy.authority}
        return web.json_response(body, status=200 if db else 503)

    web_app = web.Application(client_max_size=MAX_BODY)
    web_app.router.add_post("/slack/events", events)
    web_app.router.add_get("/healthz", healthz)
    return web_app


class RefusedRequestLog(AccessLogger):
    """aiohttp's access log, for the requests the bot refused or failed (status 400+).

    Slack's requests are all ``POST /slack/events``: a line for each accepted one
    says nothing an operator acts on, and writing it cost about 4% of the CPU per
    request (measured). A refused one (a bad signature, a malformed or oversized
    body, an error) is what someone setting up the app needs to see.
    """

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        """Log the request if it was refused or failed."""
        if response.status >= 400:
            super().log(request, response, time)


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


@dataclass
class Running:
    """A started bot: its services, app, and (in HTTP mode) the bound port."""

    sv: Services
    app: AsyncApp
    port: int | None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


@contextlib.asynccontextmanager
async def running(
    settings: Settings,
    *,
    policy: Policy | None = None,
    reminders: bool = True,
    host: str = "0.0.0.0",
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    pace: float | None = None,
    http_mode: bool | None = None,
    role: str = dbrole.LIVE,
    wall: Callable[[], float] = time.time,
) -> AsyncIterator[Running]:
    """Start the bot (migrating the database first) and stop it cleanly on exit.

    ``clock`` is the service's time (SLA clocks, flows); ``wall`` is real time, for
    Slack's signature window and replay keys only. ``role`` marks the database as a
    live workspace's (or, from the sandbox, as the sandbox's) before anything else
    touches it; a database marked for the other raises
    :class:`store.dbrole.DatabaseRoleError`, unchanged.
    """
    policy = policy or load_policy(settings.policy or None)
    await asyncio.to_thread(dbrole.claim, settings.database_url, role)
    engine = make_engine(settings.database_url)
    # Acks run on the event loop; database work in threads holds the GIL. A shorter
    # switch interval lets the loop answer Slack sooner (tail latency, measured).
    sys.setswitchinterval(SWITCH_INTERVAL)
    if is_sqlite(engine):
        # SQLite takes one writer at a time: more threads only queue and hold the GIL.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=SQLITE_THREADS, thread_name_prefix="frontdoor-db")
        )
    await asyncio.to_thread(upgrade, engine)
    stop = asyncio.Event()
    async with make_session() as http:
        sv = Services.build(settings, policy, engine, http, clock=clock, pace=pace)
        app = build_app(sv)
        tasks = [asyncio.create_task(sv.sender.run_forever(stop), name="outbox")]
        if reminders:
            from bot.reminders import ReminderLoop

            loop = ReminderLoop(sv)
            tasks.append(asyncio.create_task(loop.run_forever(stop), name="reminders"))
        runner: web.AppRunner | None = None
        socket_handler: Any = None
        port: int | None = None
        try:
            if http_mode if http_mode is not None else not settings.socket_mode:
                runner = web.AppRunner(make_web_app(app, sv, wall=wall),
                                       access_log_class=RefusedRequestLog)
                await runner.setup()
                site = web.TCPSite(runner, host, settings.port)
                await site.start()
                port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            else:
                socket_handler = SocketModeDoor(app, settings.app_token, make_door(sv, wall))
                socket_handler.client.web_client = sv.client
                await socket_handler.connect_async()
            # Everything built so far lives as long as the process: keep the cyclic
            # collector from walking it again on every full collection (tail latency).
            gc.collect()
            gc.freeze()
            # Each request allocates thousands of short-lived objects; collecting the
            # young generation every 700 cost about 6% of the CPU under load (measured:
            # 1.3 s of collections in 25 s; 0.2 s at 10,000, with the same p99).
            thresholds = gc.get_threshold()
            gc.set_threshold(YOUNG_GC_THRESHOLD, 10, 10)
            try:
                yield Running(sv, app, port, tasks)
            finally:
                gc.set_threshold(*thresholds)  # a process that goes on (tests) gets its own
        finally:
            stop.set()
            if socket_handler is not None:
                await socket_handler.close_async()
            if runner is not None:
                await runner.cleanup()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(t, timeout=5)
            # Requests answered while the sender was stopping may have started deliveries.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sv.sender.flush(), timeout=5)
            t = sv.tx
            log.info("transactions: %d on the event loop in %d turns, %d in threads, "
                     "%d with the ORM; %d WAL checkpoints", t.on_loop, t.turns, t.in_thread,
                     t.full, t.checkpoints)
            sv.tx.close()
            engine.dispose()


async def serve_forever(settings: Settings, *, reminders: bool = True) -> None:
    """Run until SIGINT/SIGTERM."""
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, done.set)
    async with running(settings, reminders=reminders) as r:
        mode = f"HTTP on port {r.port}" if r.port else "Socket Mode"
        log.info("Front Door for %s running (%s)", r.sv.policy.authority, mode)
        print(f"Front Door for {r.sv.policy.authority}: {mode}", flush=True)
        await done.wait()
