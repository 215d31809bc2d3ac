"""``frontdoor worker`` (reminder and outbox loops, no Slack endpoint) and one-off sweeps."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import datetime

from bot.config import Settings
from bot.handlers import teams
from bot.handlers.slack.client import make_session
from bot.lifecycle import Health, release_mine
from bot.policy import load_policy
from bot.reminders import ReminderLoop, ReminderSweep, SweepStats
from bot.services import Services
from store import dbrole
from store.db import make_engine
from store.migrate import upgrade

log = logging.getLogger("frontdoor.worker")


async def run_worker(settings: Settings) -> int:
    """Sweep reminders and deliver the outbox until SIGINT/SIGTERM."""
    policy = load_policy(settings.policy or None)
    await asyncio.to_thread(dbrole.claim, settings.database_url, dbrole.LIVE)
    engine = make_engine(settings.database_url)
    await asyncio.to_thread(upgrade, engine)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with make_session() as http:
        sv = Services.build(settings, policy, engine, http)
        teams.deliver(sv)  # Teams' rows too, when the policy and the settings have Teams
        reminders = ReminderLoop(sv)
        sv.metrics.watch_database(sv.tx, sv.clock)
        health = Health(engine, policy.authority)
        ops = None
        if settings.ops_port is not None:
            from bot.server import start_ops

            ops = (await start_ops(sv, health, "0.0.0.0", settings.ops_port))[0]
        print(f"Front Door worker for {policy.authority}: sweeping", flush=True)
        loops = asyncio.gather(sv.sender.run_forever(stop), reminders.run_forever(stop))
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait([stopping, loops], return_when=asyncio.FIRST_COMPLETED)
            if loops.done():  # a loop ended without being asked to: say why
                loops.result()
            # SIGTERM: each loop finishes the round it is in (deliveries claimed, the sweep
            # started), within the time limit; then this process's claims are given back.
            log.info("shutting down: finishing work in progress (at most %g s)",
                     settings.shutdown_timeout)
            health.draining = True  # /readyz: 503
            sv.sender.kick()
            try:
                await asyncio.wait_for(loops, timeout=settings.shutdown_timeout)
            except TimeoutError:
                log.warning("shutdown: the loops were still working at the time limit")
            await release_mine(sv.tx, {"outbox": sv.sender.worker_id,
                                       "reminder": reminders.sweep.worker_id},
                               sv.sender.clock())
        finally:
            stopping.cancel()
            if ops is not None:
                await ops.cleanup()
            sv.tx.close()  # the loop's own SQLite connection, as ``serve`` closes it
    engine.dispose()
    return 0


async def sweep_once(settings: Settings, now: datetime) -> SweepStats:
    """One reminder sweep as of ``now``, then deliver what it queued (for cron and tests)."""
    policy = load_policy(settings.policy or None)
    await asyncio.to_thread(dbrole.claim, settings.database_url, dbrole.LIVE)
    engine = make_engine(settings.database_url)
    await asyncio.to_thread(upgrade, engine)
    try:
        async with make_session() as http:
            sv = Services.build(settings, policy, engine, http, pace=0)
            try:
                teams_on = teams.deliver(sv) is not None
                stats = await asyncio.to_thread(ReminderSweep(sv).run, now)
                if settings.slack or teams_on:
                    await sv.sender.run_once()
                return stats
            finally:
                sv.tx.close()
    finally:
        engine.dispose()
