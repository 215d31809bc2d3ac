"""Running the bot: HTTP mode (``POST /slack/events``, ``GET /healthz``, ``GET /readyz``,
``GET /metrics``) or Socket Mode.

The outbox sender runs in the same process (and the reminder loop, unless
``--no-reminders``), all on one event loop with one aiohttp session.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
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

from bot import logs, replay
from bot.config import Settings
from bot.handlers.slack import inbound
from bot.handlers.slack.app import build_app
from bot.handlers.slack.client import make_client, make_session
from bot.handlers.slack.door import Door, SocketModeDoor
from bot.handlers.slack.members import Members
from bot.lifecycle import Health, InFlight, release_mine
from bot.metrics import CONTENT_TYPE, request_kind
from bot.policy import Policy, load_policy
from bot.services import Services
from store import dbrole
from store.db import is_sqlite, make_engine
from store.migrate import upgrade
from store.types import utcnow

log = logging.getLogger("frontdoor.server")
MAX_BODY = 1024 * 1024  # Slack's payloads are far smaller; refuse anything bigger
# A Slack request's kind, for the metrics: set by the handler, read by ``observed``
# (the same task). aiohttp's typed request keys need aiohttp 3.14.
_kind: contextvars.ContextVar[str] = contextvars.ContextVar("kind", default="unknown")
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


def make_web_app(app: AsyncApp, sv: Services, health: Health | None = None, *,
                 wall: Callable[[], float] = time.time) -> web.Application:
    """The aiohttp application: Slack's endpoint, health checks and metrics. ``wall`` is
    real time, for the signature's age and the replay keys (tests move it)."""
    health = health or Health(sv.engine, sv.policy.authority)
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
        if request.path != "/slack/events":
            return await handler(request)  # type: ignore[no-any-return]
        logs.start_request(request.headers)
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

    web_app = web.Application(client_max_size=MAX_BODY, middlewares=[observed])
    web_app.router.add_post("/slack/events", events)
    add_ops_routes(web_app, sv, health)
    return web_app


def add_ops_routes(web_app: web.Application, sv: Services, health: Health) -> None:
    """``/healthz``, ``/readyz`` and ``/metrics`` on ``web_app``."""

    async def healthz(_request: web.Request) -> web.Response:
        # Alive: the process answers. Whether to send it work is /readyz's question (a
        # database outage must not get every replica restarted).
        return web.json_response({"ok": True, "authority": sv.policy.authority,
                                  "shutting_down": health.draining})

    async def readyz(_request: web.Request) -> web.Response:
        ok, body = await health.ready()
        return web.json_response(body, status=200 if ok else 503)

    async def metrics(_request: web.Request) -> web.Response:
        body = await asyncio.to_thread(sv.metrics.render)  # reads the database
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/readyz", readyz)
    web_app.router.add_get("/metrics", metrics)


async def start_ops(sv: Services, health: Health, host: str, port: int,
                    ) -> tuple[web.AppRunner, int]:
    """Serve only ``/healthz``, ``/readyz`` and ``/metrics`` (Socket Mode and ``worker``
    have no Slack endpoint to put them on), on ``FRONTDOOR_OPS_PORT``."""
    web_app = web.Application()
    add_ops_routes(web_app, sv, health)
    runner = web.AppRunner(web_app, access_log_class=RefusedRequestLog)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"Front Door health and metrics on port {bound}", flush=True)
    return runner, bound


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
    health: Health | None = None


@contextlib.asynccontextmanager
async def running(
    settings: Settings,
    *,
    policy: Policy | None = None,
    reminders: bool = True,
    host: str = "0.0.0.0",
    clock: Callable[[], datetime] = utcnow,
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
        sv.metrics.watch_database(engine, clock)
        app = build_app(sv)
        inflight = InFlight()
        inflight.install(app)
        health = Health(engine, policy.authority)
        claimants = {"outbox": sv.sender.worker_id}
        tasks = [asyncio.create_task(sv.sender.run_forever(stop), name="outbox")]
        if reminders:
            from bot.reminders import ReminderLoop

            loop = ReminderLoop(sv)
            claimants["reminder"] = loop.sweep.worker_id
            tasks.append(asyncio.create_task(loop.run_forever(stop), name="reminders"))
        runner: web.AppRunner | None = None
        socket_handler: Any = None
        port: int | None = None
        try:
            if http_mode if http_mode is not None else not settings.socket_mode:
                runner = web.AppRunner(make_web_app(app, sv, health, wall=wall),
                                       access_log_class=RefusedRequestLog,
                                       shutdown_timeout=settings.shutdown_timeout)
                await runner.setup()
                site = web.TCPSite(runner, host, settings.port)
                await site.start()
                port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            else:
                socket_handler = SocketModeDoor(app, settings.app_token, make_door(sv, wall))
                socket_handler.client.web_client = sv.client
                await socket_handler.connect_async()
                if settings.ops_port is not None:
                    runner = (await start_ops(sv, health, host, settings.ops_port))[0]
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
                yield Running(sv, app, port, tasks, health)
            finally:
                gc.set_threshold(*thresholds)  # a process that goes on (tests) gets its own
        finally:
            # Stop taking work (/readyz says so, the listener closes), finish what was
            # taken, then stop the loops and give back what this process still holds.
            deadline = time.monotonic() + settings.shutdown_timeout
            health.draining = True
            if socket_handler is not None:
                await socket_handler.close_async()
            if runner is not None:
                await runner.cleanup()  # waits for requests in progress (to the timeout)
            if inflight.count:
                log.info("shutdown: not listening; waiting for the listeners still working: %d",
                         inflight.count)
            if not await _within(inflight.idle(), deadline):
                log.warning("shutdown: %d listeners still working at the time limit",
                            inflight.count)
            stop.set()
            sv.sender.kick()  # out of its idle wait now, not at the next tick
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await _within(t, deadline)
            # Requests answered while the sender was stopping may have started deliveries.
            await _within(sv.sender.flush(), deadline)
            await release_mine(sv.tx, claimants, sv.sender.clock())
            t = sv.tx
            log.info("transactions: %d on the event loop in %d turns, %d in threads, "
                     "%d with the ORM; %d WAL checkpoints", t.on_loop, t.turns, t.in_thread,
                     t.full, t.checkpoints)
            sv.tx.close()
            engine.dispose()


async def _within(aw: Any, deadline: float) -> bool:
    """Await ``aw`` until the monotonic ``deadline`` (at least a moment); False if cut off."""
    try:
        await asyncio.wait_for(aw, timeout=max(0.1, deadline - time.monotonic()))
        return True
    except TimeoutError:
        return False


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
        log.info("shutting down: finishing work in progress (at most %g s)",
                 settings.shutdown_timeout)
    log.info("stopped")
