"""Reminder kinds for CAF episodes (overdue TAC, reassessment); filled in by the CAF work."""

from __future__ import annotations

from typing import Any

NUDGES: dict[str, Any] = {}
