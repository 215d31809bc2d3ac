"""The two one-command scripts, run as a person would in a copy of the repository:
``scripts/test`` installs what is missing, lints and runs pytest, and a second run
reuses the venv without installing;
``scripts/run`` starts the local workspace (the sandbox on SQLite) when no Slack
tokens are set. ``.ci/run`` ends with ``scripts/test``.

The copy starts from this checkout's installed venv (copied, never shared: a fresh
venv takes a minute and a half to install, which the suite should not pay each time);
its editable install still points here, so the first run must install again.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's files (tracked and new, as ``git ls-files`` lists) with a copy of
    the venv these tests run in."""
    if not (VENV / "pyvenv.cfg").exists():
        pytest.skip("not running in a venv to copy")
    dest = tmp_path_factory.mktemp("clone") / "frontdoor"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           check=True, capture_output=True).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / os.fsdecode(name)
        if src.is_file():
            (dest / os.fsdecode(name)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / os.fsdecode(name))
    shutil.copytree(VENV, dest / ".venv", symlinks=True)
    for stamp in (dest / ".venv").glob(".frontdoor-installed-*"):
        stamp.unlink()
    return dest


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "FRONTDOOR_", "DATABASE_URL", "PYTEST_"))}
    out.pop("TEST_POSTGRES_URL", None)
    return out


def run_test_script(copy: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["scripts/test", "-q", "-p", "no:cacheprovider",
                           "tests/test_jsontext.py"], cwd=copy, env=env(), text=True,
                          capture_output=True, timeout=300)


def test_the_test_script_installs_once_then_reuses_the_venv(copy: Path) -> None:
    first = run_test_script(copy)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Installing Front Door into .venv (.[test])" in first.stderr
    assert "All checks passed!" in first.stdout and " passed" in first.stdout

    again = run_test_script(copy)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Reusing .venv (up to date)" in again.stderr
    assert "Installing" not in again.stderr

    # The copy's own code is what runs, not this checkout's.
    where = subprocess.run([str(copy / ".venv/bin/python"), "-c",
                            "import bot; print(bot.__file__)"], cwd="/", env=env(),
                           text=True, capture_output=True, check=True).stdout
    assert where.startswith(str(copy)), where



def test_the_run_script_starts_the_local_workspace(copy: Path) -> None:
    proc = subprocess.Popen(["scripts/run"], cwd=copy, env=env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        url = ""
        seen: list[str] = []
        while not url:
            assert time.monotonic() < deadline, "no sandbox address: " + "".join(seen)
            line = proc.stdout.readline()
            assert line, "scripts/run ended: " + "".join(seen)
            seen.append(line)
            if line.startswith("Front Door sandbox for "):
                url = line.rsplit(": ", 1)[1].strip()
        with urllib.request.urlopen(url, timeout=30) as page:
            assert page.status == 200
        assert any("database: sqlite:///" in line for line in
                   [proc.stdout.readline() for _ in range(1)])
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    assert proc.returncode == 0  # a clean stop on SIGTERM


def test_ci_ends_with_the_test_script() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.rstrip().endswith("bash scripts/test")
    assert "pip install" not in ci  # the one install step is the script's
