"""Answers held while the professional says whether a word could be a name.

Slack's "it's an ordinary word" button carries the typed answer itself; a Teams card is
kept in the chat under the council's retention, so here the button carries only a random
key and the answer waits in this process's memory (never in the database or a log) until
they choose, for at most ``TTL``. A restart, or another replica taking the click, loses it:
the professional is asked to type the answer again.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

TTL = timedelta(minutes=30)
_MAX = 10_000  # a bound on memory, whatever happens


@dataclass(frozen=True, slots=True)
class Held:
    """One held answer: whose, for which flow and question, the text and its words."""

    user: str
    flow_id: int
    question: str
    text: str
    words: frozenset[str]
    until: datetime


class Pending:
    """The held answers, by key."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self._held: dict[str, Held] = {}

    def hold(self, user: str, flow_id: int, question: str, text: str,
             words: frozenset[str]) -> str:
        """Keep an answer; returns the key its button carries."""
        now = self.clock()
        for key in [k for k, h in self._held.items() if h.until <= now]:
            del self._held[key]
        if len(self._held) >= _MAX:
            self._held.pop(next(iter(self._held)))
        key = secrets.token_urlsafe(16)
        self._held[key] = Held(user, flow_id, question, text, words, now + TTL)
        return key

    def take(self, key: str, user: str) -> Held | None:
        """The answer held under ``key`` for ``user`` (once), None if gone or not theirs."""
        held = self._held.get(key)
        if held is None or held.user != user:
            return None
        del self._held[key]
        return held if held.until > self.clock() else None

    def drop(self, user: str) -> None:
        """Forget everything held for ``user`` (they chose to rephrase)."""
        for key in [k for k, h in self._held.items() if h.user == user]:
            del self._held[key]
