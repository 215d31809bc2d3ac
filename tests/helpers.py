"""Small helpers the tests share: one definition each (local times, counting rows, waiting
on a condition with a deadline that fails loudly)."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from store.db import session_scope

LONDON = ZoneInfo("Europe/London")
WAIT = 20.0  # seconds for any one thing to happen; only a bot that never does it waits it out


def at(*args: int) -> dt.datetime:
    """A London wall-clock time (``at(2026, 11, 24, 9, 30)``), aware."""
    return dt.datetime(*args, tzinfo=LONDON)


def count(engine: Engine, model: Any) -> int:
    """How many rows ``model``'s table has."""
    with session_scope(engine) as s:
        return int(s.exec(select(func.count()).select_from(model)).scalar_one())  # type: ignore[call-overload]


async def until(check: Callable[[], bool | Awaitable[bool]], what: str, *,
                within: float = WAIT, pause: float = 0.005) -> None:
    """Wait (on state, not time) until ``check()`` holds; ``pause`` between tries yields to
    the bot's tasks. Raises ``AssertionError`` naming ``what`` after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        held = check()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        if loop.time() > deadline:
            raise AssertionError(f"waited {within:g} s for {what}")
        await asyncio.sleep(pause)


# README's pictures (docs/*.png) are refreshed only when asked: a test run must not
# change the checkout. ``FRONTDOOR_DOCS_PICTURES=1 scripts/test tests/test_browser_story.py
# tests/test_sandbox_teams_browser.py`` copies this run's screenshots there.
DOCS_PICTURES = "FRONTDOOR_DOCS_PICTURES"


def to_docs(picture: Path) -> None:
    """Copy ``picture`` to README's ``docs/`` when ``FRONTDOOR_DOCS_PICTURES`` is set."""
    if os.environ.get(DOCS_PICTURES):
        shutil.copyfile(picture, Path(__file__).resolve().parent.parent / "docs" / picture.name)
