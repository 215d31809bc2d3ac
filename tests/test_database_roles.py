"""``serve`` and ``sandbox`` never share a database, and ``serve`` needs a chat platform.

The attack (issue 15): ``frontdoor serve`` with the token missing quietly ran the
sandbox on ``frontdoor.db``; its sweep marked real reminders done and real
queued messages sent into the sandbox's in-memory Slack, and its page showed the
real consultation log. These tests run the commands as a person would (a child
process in a clean directory, a clean environment) and check that the refused
databases are left byte for byte as they were.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.cli import main
from bot.config import Settings
from store import dbrole
from tests.slackenv import SECRET, TOKEN, slack_env

ROOT = Path(__file__).resolve().parents[1]
START = dt.datetime(2026, 3, 9, 10, 0, tzinfo=dt.UTC)
LIMIT = 60.0  # seconds a refusing command may take before the test calls it a hang


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a fresh clone: no Slack (nor Teams) settings, no database."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "MICROSOFT_", "FRONTDOOR_"))
           and k not in ("DATABASE_URL", "PORT")}
    # PORT=0: were a command to start a server after all, it would not fail on a busy port.
    return {**env, "PYTHONPATH": str(ROOT), "PORT": "0", **extra}


def frontdoor(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``frontdoor ARGS`` in a child process; one that goes on running is a failure."""
    try:
        return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=LIMIT,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"frontdoor {' '.join(args)} was still running after {LIMIT}s "
                             f"instead of refusing; it printed: {exc.stdout!r} {exc.stderr!r}"
                             ) from None


def files(folder: Path) -> dict[str, bytes]:
    """Every file in a folder, with its bytes (to show nothing changed)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


async def live_database(folder: Path) -> str:
    """A database ``serve`` has used: the real start-up path, with a consultation asked."""
    await asyncio.to_thread(folder.mkdir, exist_ok=True)
    url = f"sqlite:///{folder / 'frontdoor.db'}"
    async with slack_env(url, start=START) as env:
        await env.sender.slash_command("U0TEACHER", "/consult", "")
        await env.fake.wait_for("chat.postMessage")
    return url


async def sandbox_database(folder: Path) -> str:
    """A database ``frontdoor sandbox`` has used."""
    from bot.sandbox.run import sandbox

    await asyncio.to_thread(folder.mkdir, exist_ok=True)
    url = f"sqlite:///{folder / 'play.db'}"
    async with sandbox(Settings(database_url=url, port=0), port=0, reminders=False):
        pass
    return url


# ------------------------------------------------------------------ serve needs a platform


async def test_serve_without_a_chat_platform_refuses_and_touches_no_database(
    tmp_path: Path,
) -> None:
    live = await live_database(tmp_path / "live")
    before = files(tmp_path / "live")
    empty = tmp_path / "fresh"
    empty.mkdir()
    for cwd, env in ((empty, clean_env()), (empty, clean_env(SLACK_SIGNING_SECRET=SECRET)),
                     (tmp_path, clean_env(DATABASE_URL=live))):
        done = frontdoor(["serve"], cwd, env)
        assert done.returncode == 2, done
        assert "no chat platform is configured" in done.stderr
        assert "SLACK_BOT_TOKEN" in done.stderr and "frontdoor sandbox" in done.stderr
        assert "Traceback" not in done.stderr
    # No frontdoor.db made in the empty folder; the live database not opened at all.
    assert list(empty.iterdir()) == []
    assert files(tmp_path / "live") == before


def test_worker_without_a_chat_platform_refuses(tmp_path: Path) -> None:
    """A worker without a token would dead-letter every queued message (``not_authed``)."""
    done = frontdoor(["worker"], tmp_path, clean_env())
    assert done.returncode == 2 and "no chat platform is configured" in done.stderr
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ the marks


async def test_serve_marks_its_database_live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A database from before the marks (made by `db upgrade`) is taken as serve's.
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'frontdoor.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    assert await asyncio.to_thread(main, ["db", "upgrade"]) == 0
    assert dbrole.role_of(url) is None
    assert await live_database(tmp_path) == url
    assert dbrole.role_of(url) == dbrole.LIVE


def test_reminders_run_marks_its_database_live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'cron.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    assert main(["reminders", "run", "--now", "2026-03-09T10:00:00+00:00"]) == 0
    assert dbrole.role_of(url) == dbrole.LIVE


# ------------------------------------------------------------------ the sandbox refuses serve's


async def test_sandbox_refuses_a_database_serve_has_used(tmp_path: Path) -> None:
    live = await live_database(tmp_path / "live")
    before = files(tmp_path / "live")
    done = frontdoor(["sandbox"], tmp_path, clean_env(DATABASE_URL=live))
    assert done.returncode == 1, done
    assert "has been used by `frontdoor serve`" in done.stderr
    assert "Traceback" not in done.stderr and "Front Door sandbox for" not in done.stdout
    # Not a byte changed, and no workspace file made beside it.
    assert files(tmp_path / "live") == before


async def test_sandbox_refuses_an_unmarked_database_with_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One from before the marks may be a live one: the sandbox will not guess."""
    from bot.sandbox.run import sandbox

    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'old.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    assert await asyncio.to_thread(main, ["db", "upgrade"]) == 0
    before = files(tmp_path)
    with pytest.raises(dbrole.DatabaseRoleError, match="not made by `frontdoor sandbox`"):
        async with sandbox(Settings(database_url=url, port=0), port=0):
            pass
    assert files(tmp_path) == before


# ------------------------------------------------------------------ serve refuses the sandbox's


async def test_serve_worker_and_sweeps_refuse_a_sandbox_database(tmp_path: Path) -> None:
    """A sandbox database holds demo people and made-up worries: a sweep there would
    send their reminders, and its queued messages, to the real workspace's channels."""
    url = await sandbox_database(tmp_path)
    assert dbrole.role_of(url) == dbrole.SANDBOX
    before = files(tmp_path)
    env = clean_env(DATABASE_URL=url, SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET,
                    SLACK_API_URL="http://127.0.0.1:9/api/")
    for args in (["serve"], ["worker"], ["reminders", "run"]):
        done = frontdoor(args, tmp_path, env)
        assert done.returncode == 1, (args, done)
        assert "is a `frontdoor sandbox` database" in done.stderr, args
        assert "Traceback" not in done.stderr
    assert files(tmp_path) == before


# ------------------------------------------------------------------ README's command


async def test_readme_sandbox_command_works_from_a_fresh_clone(tmp_path: Path) -> None:
    """``frontdoor sandbox`` with no tokens and no DATABASE_URL: its own file, a page."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "sandbox", cwd=tmp_path, env=clean_env(),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    printed: list[str] = []
    try:
        async with asyncio.timeout(LIMIT):
            while not printed or "Front Door sandbox for" not in printed[-1]:
                line = (await proc.stdout.readline()).decode()  # type: ignore[union-attr]
                assert line, f"frontdoor sandbox ended: {printed}"
                printed.append(line)
        url = printed[-1].rsplit(": ", 1)[1].strip()
        # The address is the first thing said: no migration chatter above it.
        assert len(printed) == 1, printed
        async with aiohttp.ClientSession() as http, http.get(url) as r:
            assert r.status == 200
            assert 'name="frontdoor-token"' in await r.text()
        assert (tmp_path / "frontdoor-sandbox.db").exists()
        assert not (tmp_path / "frontdoor.db").exists()
        assert dbrole.role_of(f"sqlite:///{tmp_path / 'frontdoor-sandbox.db'}") == dbrole.SANDBOX
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(LIMIT):
            rest = await proc.communicate()
    assert proc.returncode == 0, (printed, rest)
