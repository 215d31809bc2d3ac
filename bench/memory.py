"""Memory: the peak RSS of ``frontdoor serve`` before and after N completed flows.

A fresh fake Web API and ``frontdoor serve`` (SQLite, outbox pace 0), then
``--users`` simulated professionals run flows until ``--flows`` have ended
(the load driver, no think time). ``VmHWM`` (peak resident set) and ``VmRSS``
of the serve process are read from ``/proc/PID/status`` after start-up, every
``--every`` flows, and at the end, so a leak shows as a rising line.

``path="full"`` plays whole ``/consult`` and ``/refer`` flows (18-22 requests
each). ``path="urgent"`` plays the safety gate (``/refer`` then "a child is in
immediate danger": 2 requests), which completes the flow with an urgent
referral, a triage card and its SLA reminders; it is much quicker for the
same number of completed flows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from bench import load, procs


async def run(workdir: Path, *, flows: int, users: int, path: str = "full", every: int = 1000,
              say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run ``flows`` flows against a fresh ``frontdoor serve``; RSS before, during, after."""
    async with procs.fake_api(workdir, users) as (_fake, api_url):
        fake_root = api_url.removesuffix("/api/")
        async with procs.bot("frontdoor", workdir, api_url) as bot:
            before = bot.memory()
            say(f"  memory: serve pid {bot.pid} started, VmHWM {before['VmHWM'] / 1024:.1f} MiB;"
                f" {flows:,} {path} flows with {users} users ...")
            timeout = aiohttp.ClientTimeout(total=load.REQUEST_TIMEOUT + load.REPLY_TIMEOUT + 5)
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                             timeout=timeout) as http:
                kinds = ("consult", "refer") if path == "full" else ("refer",)
                driver = load.Driver(http, f"http://127.0.0.1:{bot.port}/slack/events",
                                     fake_root, procs.SIGNING_SECRET, mode="frontdoor",
                                     kinds=kinds)
                if path == "urgent":
                    driver.choose = {**load.CHOOSE, "danger": "yes"}
                curve: list[dict[str, Any]] = [{"flows": 0, **before}]
                t0 = time.perf_counter()

                def progress(n: int) -> None:
                    if n % every == 0:
                        mem = bot.memory()
                        curve.append({"flows": n, **mem})
                        say(f"    {n:,} flows started, {time.perf_counter() - t0:.0f} s: "
                            f"VmRSS {mem['VmRSS'] / 1024:.1f} MiB, "
                            f"VmHWM {mem['VmHWM'] / 1024:.1f} MiB")

                await driver.run(load.make_users(users), flows=flows, on_progress=progress)
                seconds = time.perf_counter() - t0
            after = bot.memory()
            curve.append({"flows": flows, **after})
    outcomes: dict[str, int] = {}
    for _end, outcome in driver.rec.flows:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return {
        "flows": flows, "path": path, "users": users, "seconds": round(seconds, 1),
        "requests": len(driver.rec.samples),
        "errors": sum(1 for s in driver.rec.samples if not s.ok),
        "outcomes": outcomes,
        "before_hwm_mib": round(before["VmHWM"] / 1024, 1),
        "before_rss_mib": round(before["VmRSS"] / 1024, 1),
        "after_hwm_mib": round(after["VmHWM"] / 1024, 1),
        "after_rss_mib": round(after["VmRSS"] / 1024, 1),
        "curve": curve,
    }
