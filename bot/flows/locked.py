"""One atomic, row-locked action: the shape every card, advice and CAF action shares.

The row is locked (``FOR UPDATE`` on PostgreSQL; ``BEGIN IMMEDIATE`` serialises
SQLite), checked, changed, its version bumped, and the caller's ``effects`` run
before commit, so the messages an action causes are queued in its transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import select
from sqlmodel import Session

from store.runner import TxRunner


class Result(Protocol):
    """An action's result: ``ok`` when it changed something."""

    @property
    def ok(self) -> bool: ...


R = TypeVar("R", bound=Result)
M = TypeVar("M")


def locked_action(
    runner: TxRunner,
    model: type[M],
    row_id: int,
    now: datetime,
    act: Callable[[Session, M, datetime], R],
    effects: Callable[[Session, R], None] | None,
    *,
    missing: Callable[[], R],
    check: Callable[[M], R | None] | None = None,
    finish: Callable[[Session, M, R], None] | None = None,
) -> R:
    """Lock ``model`` row ``row_id`` and run ``act`` on it in one write transaction.

    ``missing`` answers when the row is gone; ``check`` may answer early (closed,
    stale) without acting; ``finish`` attaches related rows to the result.
    """
    with runner.session(write=True) as s:
        key: Any = model.id  # type: ignore[attr-defined]
        stmt = select(model).where(key == row_id).with_for_update()
        row = s.exec(stmt).scalar_one_or_none()  # type: ignore[call-overload]
        if row is None:
            return missing()
        early = check(row) if check is not None else None
        if early is not None:
            return early
        result = act(s, row, now)
        if finish is not None:
            finish(s, row, result)
        if result.ok:
            if hasattr(row, "version"):
                row.version += 1
            s.add(row)
            s.flush()
            if effects is not None:
                effects(s, result)
        return result
