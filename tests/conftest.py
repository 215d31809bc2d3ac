"""Shared fixtures: databases on SQLite and (when available) PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from store.db import database_url, make_engine
from store.migrate import upgrade

DATA = Path(__file__).with_name("data")
# CI sets this to a server it started; developers may set it too.
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "")
_backends_used: set[str] = set()


def _backend_params() -> list[object]:
    params: list[object] = [pytest.param("sqlite", id="sqlite")]
    marks = [pytest.mark.postgres]
    if not POSTGRES_URL:
        marks.append(pytest.mark.skip(reason="TEST_POSTGRES_URL not set"))
    params.append(pytest.param("postgresql", id="postgresql", marks=marks))
    return params


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file URL."""
    return f"sqlite:///{tmp_path / 'frontdoor.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip("TEST_POSTGRES_URL not set")
    admin = create_engine(database_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    name = f"fd_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(database_url(POSTGRES_URL)).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(
                text(
                    # Client connections only: an autovacuum worker on the new database
                    # belongs to the superuser (not ours to end) and DROP DATABASE ends it.
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid() "
                    "AND backend_type = 'client backend'"
                ),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(params=_backend_params())
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL on each backend (store tests run on both)."""
    _backends_used.add(request.param)
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'frontdoor.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated engine on each backend."""
    eng = make_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    """A migrated SQLite engine (for tests that need only one backend)."""
    eng = make_engine(sqlite_url)
    upgrade(eng)
    yield eng
    eng.dispose()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say which databases the store tests ran on, so CI's log shows it."""
    if _backends_used:
        names = ", ".join(sorted(_backends_used))
        terminalreporter.write_line(f"store tests ran on: {names}")
        if "postgresql" not in _backends_used or not POSTGRES_URL:
            terminalreporter.write_line(
                "PostgreSQL store tests were SKIPPED (no TEST_POSTGRES_URL)"
            )


@pytest.fixture
def db_file(tmp_path: Path) -> str:
    """A SQLite database URL in the test's own folder (for tests that run the bot)."""
    return f"sqlite:///{tmp_path / 'frontdoor.db'}"
