"""Recurring service jobs run from the reminder loop (weekly figures, retention purge)."""

from __future__ import annotations

from typing import Any

NUDGES: dict[str, Any] = {}
RECURRING: list[Any] = []
