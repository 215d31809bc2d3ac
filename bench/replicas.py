"""Front Door as N replicas on one PostgreSQL database behind HAProxy (issue 16).

``python -m bench replicas`` runs the interaction load (``bench.load``'s simulated
professionals) against one, two and three ``frontdoor serve`` processes in HTTP mode
on one fresh PostgreSQL database, behind an HAProxy on loopback with round-robin
balancing and a health check on ``/readyz``. The HAProxy pieces here are also used
by ``tests/test_fault_replicas.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench import procs

HEALTH_PATH = "/readyz"  # database reachable, migrations at head, not shutting down


def haproxy_binary() -> str | None:
    """The ``haproxy`` executable (Debian puts it in /usr/sbin), or None."""
    return shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")


def haproxy_config(bind_port: int, servers: dict[str, int], stats_port: int, *,
                   health_path: str = HEALTH_PATH) -> str:
    """A loopback HAProxy: round robin over ``servers`` (name -> port), health-checked.

    A replica that fails its health check three times (0.5 s apart, 2 s each) is taken
    out; one that answers once is back. (Checks 0.2 s apart that failed twice took the
    only replica out on a saturated machine: every request then got a 503.) A request
    whose connection to a replica fails is sent to another (``redispatch``): it never
    reached a bot, so nothing is applied twice. A request a replica died while answering
    is not retried (HAProxy answers 502; Slack retries events, with the same event id).
    """
    lines = [
        "global",
        "    maxconn 4096",
        "defaults",
        "    mode http",
        "    timeout connect 1s",
        "    timeout client 30s",
        "    timeout server 30s",
        "    timeout check 2s",
        "    retries 3",
        "    option redispatch",
        "frontend slack",
        f"    bind 127.0.0.1:{bind_port}",
        "    default_backend frontdoor",
        "backend frontdoor",
        "    balance roundrobin",
        f"    option httpchk GET {health_path}",
        "    http-check expect status 200",
        "    default-server inter 500ms fall 3 rise 1",
        *(f"    server {name} 127.0.0.1:{port} check" for name, port in servers.items()),
        "listen stats",
        f"    bind 127.0.0.1:{stats_port}",
        "    stats enable",
        "    stats uri /stats",
    ]
    return "\n".join(lines) + "\n"


@dataclass
class Balancer:
    """A running HAProxy: its process, front-end port and stats page port."""

    proc: procs.Proc
    port: int
    stats_port: int

    async def servers(self, http: aiohttp.ClientSession) -> dict[str, dict[str, str]]:
        """HAProxy's figures per backend server (``stot`` sessions, ``status``, ``chkdown``)."""
        async with http.get(f"http://127.0.0.1:{self.stats_port}/stats;csv") as r:
            text = await r.text()
        rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
        return {row["svname"]: row for row in rows if row.get("pxname") == "frontdoor"
                and row["svname"] not in ("BACKEND", "FRONTEND")}


def check_config(path: Path) -> str:
    """``haproxy -c -f path``: "" when valid, else what HAProxy said."""
    binary = haproxy_binary()
    if binary is None:
        raise RuntimeError("haproxy is not installed (apt-get install haproxy)")
    r = subprocess.run([binary, "-c", "-f", str(path)], capture_output=True, text=True,
                       check=False)
    return "" if r.returncode == 0 else (r.stdout + r.stderr)


@contextlib.asynccontextmanager
async def haproxy(workdir: Path, servers: dict[str, int], *,
                  within: float = 20.0) -> AsyncIterator[Balancer]:
    """HAProxy in the foreground in front of ``servers``, once a request through it
    reaches a healthy replica."""
    port, stats = procs.free_port(), procs.free_port()
    cfg = workdir / "haproxy.cfg"
    cfg.write_text(haproxy_config(port, servers, stats))
    problems = await asyncio.to_thread(check_config, cfg)
    if problems:
        raise RuntimeError(f"haproxy refused its configuration:\n{problems}")
    proc = procs.spawn("haproxy", [str(haproxy_binary()), "-db", "-f", str(cfg)],
                       procs.base_env(), workdir)
    try:
        await procs.wait_healthy(proc, f"http://127.0.0.1:{port}{HEALTH_PATH}", within)
        yield Balancer(proc, port, stats)
    finally:
        proc.stop()


async def until(condition: Callable[[], Any], what: str, within: float = 20.0) -> None:
    """Poll ``condition`` (sync or async) until it is true; fail loudly after ``within``."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {within}s for {what}")
        await asyncio.sleep(0.02)


# --- the benchmark -------------------------------------------------------------------------


async def measure(replicas: int, workdir: Path, postgres: str, *, users: int, warmup: float,
                  duration: float) -> dict[str, Any]:
    """``replicas`` serve processes on a fresh PostgreSQL database behind HAProxy, under
    ``users`` simulated professionals: ``bench.load``'s figures plus CPU per process."""
    from bench import load, sweep
    from store.db import make_engine
    from store.migrate import upgrade

    with sweep.database("postgresql", workdir, postgres) as url:
        engine = make_engine(url)
        try:
            await asyncio.to_thread(upgrade, engine)  # once, as compose's migrate step
        finally:
            engine.dispose()
        async with contextlib.AsyncExitStack() as stack:
            fake, api_url = await stack.enter_async_context(procs.fake_api(workdir, users))
            fake_root = api_url.removesuffix("/api/")
            bots = [await stack.enter_async_context(
                procs.bot("frontdoor", workdir, api_url, database_url=url))
                for _ in range(replicas)]
            lb = await stack.enter_async_context(
                haproxy(workdir, {f"r{i + 1}": b.port for i, b in enumerate(bots)}))
            connector = aiohttp.TCPConnector(limit=0)
            timeout = aiohttp.ClientTimeout(total=load.REQUEST_TIMEOUT + load.REPLY_TIMEOUT + 5)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
                driver = load.Driver(http, f"http://127.0.0.1:{lb.port}/slack/events",
                                     fake_root, procs.SIGNING_SECRET, mode="frontdoor")
                loop = asyncio.get_running_loop()
                marks: dict[str, dict[str, float]] = {}

                def mark(name: str) -> None:
                    marks[name] = {"bots": sum(b.cpu_seconds() for b in bots),
                                   "haproxy": lb.proc.cpu_seconds(), "fake": fake.cpu_seconds(),
                                   "machine": procs.system_busy_seconds()}

                t_start = time.perf_counter()
                loop.call_at(loop.time() + warmup, mark, "t0")
                loop.call_at(loop.time() + warmup + duration, mark, "t1")
                await driver.run(load.make_users(users), duration=warmup + duration,
                                 ramp=min(1.0, warmup / 2))
                spread = {name: int(row.get("stot") or 0)
                          for name, row in (await lb.servers(http)).items()}
            figures = load.summarise(driver.rec, t_start + warmup, t_start + warmup + duration)
            figures["errors_by_kind"] = dict(driver.rec.errors)
            figures["requests_per_replica"] = spread
            if "t1" in marks:
                figures["cores"] = {k: round((marks["t1"][k] - marks["t0"][k]) / duration, 2)
                                    for k in marks["t0"]}
                ok = max(1, int(figures["rps"] * duration))
                figures["bots_cpu_ms_per_req"] = round(
                    (marks["t1"]["bots"] - marks["t0"]["bots"]) * 1000 / ok, 2)
            figures["log_errors"] = sum(
                1 for b in bots for line in b.log_path.read_text(errors="replace").splitlines()
                if " ERROR " in line)
    return figures


async def run(counts: list[int], *, postgres: str, users: int, warmup: float, duration: float,
              say: Callable[[str], None] = print) -> dict[str, Any]:
    """Each replica count in turn on a fresh database; the rows of the table."""
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory(prefix="fd-bench-replicas-") as tmp:
        for n in counts:
            say(f"replicas: {n} x frontdoor serve (PostgreSQL) behind HAProxy, {users} users, "
                f"{warmup:.0f} s warm-up + {duration:.0f} s ...")
            workdir = Path(tmp) / f"r{n}"
            workdir.mkdir()
            rows.append({"replicas": n, **await measure(n, workdir, postgres, users=users,
                                                          warmup=warmup, duration=duration)})
    return {"rows": rows, "users": users, "warmup_s": warmup, "duration_s": duration}


if __name__ == "__main__":  # pragma: no cover - use ``python -m bench replicas``
    sys.exit("use: python -m bench replicas")
