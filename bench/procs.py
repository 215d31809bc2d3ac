"""Starting and watching the benchmark's processes: the fake Web API, the bots.

Each process gets its own log file in the run's temporary directory (read it
when a start fails), runs with the repository on ``PYTHONPATH`` and in the
temporary directory (so a developer's ``.env`` is not picked up), and is
stopped with SIGTERM (SIGKILL after a grace period) by its own pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
SIGNING_SECRET = "bench-signing-secret"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A free TCP port on loopback (bound and released: a tiny race, fine on one machine)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base_env(**extra: str) -> dict[str, str]:
    """The environment for a child: the repository importable, no Slack app token."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("SLACK_APP_TOKEN", "DATABASE_URL", "SLACK_BOT_TOKEN")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@dataclass
class Proc:
    """A started child process and its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]
    port: int = 0

    @property
    def pid(self) -> int:
        """The child's pid."""
        return self.popen.pid

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far (from /proc/PID/stat)."""
        return cpu_seconds(self.pid)

    def memory(self) -> dict[str, int]:
        """``VmHWM`` (peak RSS) and ``VmRSS`` in KiB, from /proc/PID/status."""
        return memory_kib(self.pid)

    def tail(self, lines: int = 30) -> str:
        """The end of the log (for error messages)."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; returns the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.log.close()
        return self.popen.returncode


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) a process has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def system_busy_seconds() -> float:
    """CPU seconds all processes on the machine have used (from /proc/stat, not idle/iowait)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / CLK_TCK


def memory_kib(pid: int) -> dict[str, int]:
    """Peak (``VmHWM``) and current (``VmRSS``) resident memory of ``pid`` in KiB."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(value.split()[0])
    return out


def spawn(name: str, argv: list[str], env: dict[str, str], workdir: Path) -> Proc:
    """Start ``argv`` with stdout/stderr to ``workdir/<name>.log``."""
    log_path = workdir / f"{name}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed by Proc.stop
    popen = subprocess.Popen(argv, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
    return Proc(name, popen, log_path, log)


async def _wait_log_json(proc: Proc, within: float) -> dict[str, object]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.tail()}")
        for line in proc.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{") and '"ready"' in line:
                return dict(json.loads(line))
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{proc.name} did not start in {within}s:\n{proc.tail()}")


async def wait_healthy(proc: Proc, url: str, within: float = 60.0) -> None:
    """Poll ``url`` until it answers 200 (the process must stay alive meanwhile)."""
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.tail()}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(url) as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{proc.name} was not healthy in {within}s:\n{proc.tail()}")


@contextlib.asynccontextmanager
async def fake_api(workdir: Path, users: int) -> AsyncIterator[tuple[Proc, str]]:
    """The fake Web API process; yields it and its ``/api/`` base URL."""
    from bench.fakeapi import TOKEN

    proc = spawn("fakeapi", [sys.executable, "-m", "bench.fakeapi", "--port", "0",
                             "--users", str(users), "--token", TOKEN], base_env(), workdir)
    try:
        ready = await _wait_log_json(proc, 30)
        proc.port = int(str(ready["port"]))
        yield proc, str(ready["base_url"])
    finally:
        proc.stop()


def _frontdoor_argv() -> list[str]:
    script = Path(sys.executable).with_name("frontdoor")
    if script.exists():
        return [str(script), "serve"]
    return [sys.executable, "-m", "bot.cli", "serve"]


@contextlib.asynccontextmanager
async def bot(kind: str, workdir: Path, api_url: str, *, pace: str = "0",
              reminders: bool = True, database_url: str | None = None,
              baseline: str = "one") -> AsyncIterator[Proc]:
    """``frontdoor serve`` (``kind="frontdoor"``) or the bare Bolt app (``"bare"``), healthy.

    Front Door gets ``database_url`` (default: a fresh SQLite file in ``workdir``) and
    ``FRONTDOOR_OUTBOX_PACE=pace``; the bare app is told its ``baseline`` ("one" message a
    request, or the "same" calls as Front Door: ``bench.barebolt``).
    """
    from bench.fakeapi import TOKEN

    port = free_port()
    env = base_env(SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
                   SLACK_API_URL=api_url, PORT=str(port))
    if kind == "frontdoor":
        db = database_url or f"sqlite:///{workdir / f'frontdoor-{port}.db'}"
        env.update(DATABASE_URL=db, FRONTDOOR_OUTBOX_PACE=pace)
        argv = _frontdoor_argv() + ([] if reminders else ["--no-reminders"])
    elif kind == "bare":
        argv = [sys.executable, "-m", "bench.barebolt"]
        env.update(BAREBOLT_CALLS=baseline)
    else:
        raise ValueError(kind)
    proc = spawn(f"{kind}-{port}", argv, env, workdir)
    proc.port = port
    try:
        await wait_healthy(proc, f"http://127.0.0.1:{port}/healthz")
        yield proc
    finally:
        proc.stop()
