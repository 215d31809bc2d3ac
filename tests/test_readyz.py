"""``GET /readyz``: 503 while the database is stopped or its schema is not at this version's
head, 200 again once it is back; ``GET /healthz`` stays 200 throughout (the process lives).

The database is a PostgreSQL cluster of the test's own (initdb into a temporary folder,
``pg_ctl`` start and stop on a free port, as the ``postgres`` OS user), never the shared
server other tests use: stopping that would break them.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text

from bot.config import Settings
from bot.policy import load_policy
from bot.sandbox.webapi import FakeSlack
from bot.server import Running, running
from store.db import make_engine
from store.migrate import alembic_config
from tests.slackenv import SECRET, TOKEN

WAIT = 20.0
PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """A throwaway PostgreSQL cluster owned by the ``postgres`` OS user."""

    def __init__(self) -> None:
        self.bin = Path(PG_BIN[-1]).parent
        self.dir = Path(tempfile.mkdtemp(prefix="fd-readyz-", dir="/tmp"))
        self.port = _free_port()
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        self._as_postgres(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust",
                          "-U", "postgres", "--no-sync", "-E", "UTF8")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/frontdoor"

    def _as_postgres(self, *argv: str) -> None:
        done = subprocess.run(["runuser", "-u", "postgres", "--", *argv], capture_output=True,
                              text=True, timeout=60, cwd=self.dir)
        assert done.returncode == 0, (argv, done.stdout[-2000:], done.stderr[-2000:])

    def start(self) -> None:
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-l",
                          str(self.dir / "log"), "-o",
                          f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1",
                          "start")

    def stop(self) -> None:
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-m", "fast",
                          "stop")

    def remove(self) -> None:
        with contextlib.suppress(AssertionError, subprocess.SubprocessError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if not PG_BIN or shutil.which("runuser") is None or os.geteuid() != 0:
        pytest.skip("needs PostgreSQL's binaries, runuser and root (to run them as postgres)")
    c = Cluster()
    try:
        c.start()
        admin = make_engine(c.url.rsplit("/", 1)[0] + "/postgres",
                            isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE frontdoor"))
        admin.dispose()
        yield c
    finally:
        c.remove()


@contextlib.asynccontextmanager
async def _bot(database_url: str) -> AsyncIterator[tuple[Running, aiohttp.ClientSession]]:
    async with FakeSlack(tokens=[TOKEN]) as fake, aiohttp.ClientSession() as http:
        settings = Settings(bot_token=TOKEN, signing_secret=SECRET, api_url=fake.base_url,
                            database_url=database_url, port=0, shutdown_timeout=5)
        async with running(settings, policy=load_policy("cambridgeshire"), reminders=False,
                           host="127.0.0.1", http_mode=True, pace=0) as bot:
            yield bot, http


async def _get(http: aiohttp.ClientSession, bot: Running, path: str) -> tuple[int, Any]:
    async with http.get(f"http://127.0.0.1:{bot.port}{path}") as r:
        return r.status, await r.json()


async def _until_status(http: aiohttp.ClientSession, bot: Running, status: int,
                        ) -> dict[str, Any]:
    """Poll ``/readyz`` until it answers ``status`` (it may reuse an answer for a second)."""
    deadline = asyncio.get_running_loop().time() + WAIT
    seen: tuple[int, Any] = (0, None)
    while asyncio.get_running_loop().time() < deadline:
        seen = await _get(http, bot, "/readyz")
        if seen[0] == status:
            return dict(seen[1])
        await asyncio.sleep(0.05)
    raise AssertionError(f"/readyz did not answer {status} within {WAIT}s: {seen}")


def _set_revision(url: str, revision: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()


@pytest.mark.postgres
async def test_readyz_follows_the_database_and_its_migrations(cluster: Cluster) -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_revision("head")
    assert head is not None and isinstance(head.down_revision, str)
    async with _bot(cluster.url) as (bot, http):
        ready = await _until_status(http, bot, 200)
        assert ready["ok"] is True and ready["revision"] == head.revision, ready

        await asyncio.to_thread(cluster.stop)
        body = await _until_status(http, bot, 503)
        assert body["failed"] == "database", body
        assert (await _get(http, bot, "/healthz"))[0] == 200  # alive, only not ready

        await asyncio.to_thread(cluster.start)
        assert (await _until_status(http, bot, 200))["ok"] is True

        # The schema one migration behind this version's head: not ready.
        await asyncio.to_thread(_set_revision, cluster.url, head.down_revision)
        body = await _until_status(http, bot, 503)
        assert body["failed"] == "migrations", body
        assert (body["revision"], body["head"]) == (head.down_revision, head.revision)
        await asyncio.to_thread(_set_revision, cluster.url, head.revision)
        await _until_status(http, bot, 200)

        # Shutting down: not ready, whatever the database says.
        assert bot.health is not None
        bot.health.draining = True
        assert (await _until_status(http, bot, 503))["failed"] == "shutting_down"
        bot.health.draining = False


async def test_readyz_refuses_when_no_policy_is_loaded(sqlite_url: str) -> None:
    async with _bot(sqlite_url) as (bot, http):
        await _until_status(http, bot, 200)
        assert bot.health is not None
        bot.health.authority = ""
        bot.health._last = None  # the last answer is reused for a second
        body = await _until_status(http, bot, 503)
        assert body["failed"] == "policy", body
