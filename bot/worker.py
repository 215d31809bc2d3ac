"""``frontdoor worker`` (reminder and outbox loops, no Slack endpoint) and one-off sweeps."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import datetime

from bot.config import Settings
from bot.policy import load_policy
from bot.reminders import ReminderLoop, ReminderSweep, SweepStats
from bot.services import Services
from bot.slack import make_session
from store import dbrole
from store.db import make_engine
from store.migrate import upgrade


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
        print(f"Front Door worker for {policy.authority}: sweeping", flush=True)
        try:
            await asyncio.gather(sv.sender.run_forever(stop), ReminderLoop(sv).run_forever(stop))
        finally:
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
                stats = await asyncio.to_thread(ReminderSweep(sv).run, now)
                if settings.bot_token:
                    await sv.sender.run_once()
                return stats
            finally:
                sv.tx.close()
    finally:
        engine.dispose()
