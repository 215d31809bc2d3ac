"""Running the bot: HTTP mode (``POST /slack/events``, ``GET /healthz``, ``GET /readyz``,
``GET /metrics``, and Teams' ``POST /api/messages`` when the policy names Teams people)
or Socket Mode.

The outbox sender runs in the same process (and the reminder loop, unless
``--no-reminders``), all on one event loop with one aiohttp session.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web
from aiohttp.web_log import AccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from bot.config import Settings
from bot.handlers import teams
from bot.handlers.slack import http as slack_http
from bot.handlers.slack.app import build_app
from bot.handlers.slack.client import make_session
from bot.handlers.slack.inflight import InFlight
from bot.lifecycle import Health, release_mine
from bot.metrics import CONTENT_TYPE
from bot.policy import Policy, load_policy
from bot.services import Services
from store import dbrole
from store.db import is_sqlite, make_engine
from store.migrate import upgrade
from store.types import utcnow

log = logging.getLogger("frontdoor.server")
SQLITE_THREADS = 2
SWITCH_INTERVAL = 0.001  # seconds; CPython default is 0.005
YOUNG_GC_THRESHOLD = 10_000  # allocations between young collections; CPython's is 700


def make_web_app(app: Any | None, sv: Services, health: Health | None = None, *,
                 wall: Callable[[], float] = time.time,
                 teams_options: dict[str, Any] | None = None) -> web.Application:
    """The aiohttp application: Slack's endpoint, Teams' when the policy names Teams
    people (``teams_options``: :func:`bot.handlers.teams.mount`'s, the sandbox's), health
    checks and metrics. ``wall`` is real time, for the signature's age and the replay
    keys (tests move it)."""
    health = health or Health(sv.engine, sv.policy.authority)
    web_app = web.Application(client_max_size=slack_http.MAX_BODY)
    if app is not None:  # None: a Teams-only bot has no Slack endpoint at all
        slack_http.mount(web_app, app, sv, wall=wall)
    teams.mount(web_app, sv, **(teams_options or {}))
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


@dataclass
class Running:
    """A started bot: its services, app, and (in HTTP mode) the bound port."""

    sv: Services
    app: Any  # Slack's app (Bolt's AsyncApp); None for a bot on Teams alone
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
    teams_options: dict[str, Any] | None = None,
) -> AsyncIterator[Running]:
    """Start the bot (migrating the database first) and stop it cleanly on exit.

    ``clock`` is the service's time (SLA clocks, flows); ``wall`` is real time, for
    Slack's signature window and replay keys only. ``teams_options``: how Teams is
    mounted (:func:`bot.handlers.teams.mount`; the sandbox's fake). ``role`` marks the database as a
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
        sv.metrics.watch_database(sv.tx, clock)
        # Slack when its token is set; a council on Teams alone runs without it.
        app = build_app(sv) if settings.slack else None
        inflight = InFlight()
        if app is not None:
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
            socket = app is not None and settings.socket_mode
            if http_mode if http_mode is not None else not socket:
                runner = web.AppRunner(make_web_app(app, sv, health, wall=wall,
                                                    teams_options=teams_options),
                                       access_log_class=RefusedRequestLog,
                                       shutdown_timeout=settings.shutdown_timeout)
                await runner.setup()
                site = web.TCPSite(runner, host, settings.port)
                await site.start()
                port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            else:
                socket_handler = await slack_http.socket_mode(app, sv, wall=wall)
                # No endpoint for Teams here (it posts to /api/messages over HTTP), but
                # what the services queue for Teams is still sent, as a worker sends it.
                teams.deliver(sv)
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
