"""Accept or refuse one answer: shape, the no-names guard, then the question's own check.

Every free-text answer goes through ``bot.nonames`` (DESIGN.md principle 1).
What it finds is returned as ``Finding``s for the professional's eyes only;
the refused text itself is not kept anywhere. Error messages never repeat
the answer, so nothing identifying can leak through an error, a log line or
an exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from bot import nonames
from bot.flows.guided.models import Finding, Kind
from bot.flows.guided.script import Answers, Context, Question

# A DATE answer a few minutes ahead of our clock is clock skew, not the future.
_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Accepted:
    """The answer as it will be stored (already guarded and normalised)."""

    value: Any


@dataclass(frozen=True)
class Rejected:
    """Why the answer was not accepted: no-names findings and/or validation errors.

    ``findings`` with ``confirm`` set are questions for the professional ("could 'destiny'
    identify the child?"), not refusals: the answer is accepted once they say it could not.
    """

    findings: tuple[Finding, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def asking(self) -> bool:
        """Only uncertain findings: ask, don't refuse."""
        return bool(self.findings) and all(f.confirm for f in self.findings)


def guard(text: str, confirmed: frozenset[str] = frozenset()) -> tuple[Finding, ...]:
    """No-names findings in ``text``, described for the professional (empty: clean).

    Certain findings come alone when there are any (the answer is refused whatever else it
    holds); otherwise the uncertain ones whose words are not in ``confirmed``.
    """
    certain: list[Finding] = []
    uncertain: list[Finding] = []
    for f in nonames.scan(text):
        word = " ".join(text[f.start : f.end].split())
        if f.confirm and word.casefold() in confirmed:
            continue
        # One line per finding (describe() would merge repeats across kinds' spans).
        finding = Finding(kind=f.kind, label=nonames.describe(text, [f])[0], confirm=f.confirm,
                          word=word if f.confirm else "")
        out = uncertain if f.confirm else certain
        if finding not in out:
            out.append(finding)
    return tuple(certain or uncertain)


def accept(q: Question, raw: Any, answers: Answers, ctx: Context) -> Accepted | Rejected:
    """Check ``raw`` against question ``q``; never include ``raw`` in an error."""
    if q.kind is Kind.TEXT:
        result = _text(q, raw, ctx.confirmed)
    elif q.kind is Kind.MULTI:
        result = _multi(q, raw)
    elif q.kind is Kind.DATE:
        result = _date(q, raw, ctx)
    else:
        result = _choice(q, raw)
    if isinstance(result, Rejected) or q.check is None:
        return result
    error = q.check(result.value, answers, ctx)
    return Rejected(errors=(error,)) if error else result


def _text(q: Question, raw: Any, confirmed: frozenset[str] = frozenset()) -> Accepted | Rejected:
    if not isinstance(raw, str):
        return Rejected(errors=("Please type your answer as text.",))
    text = raw.strip()
    if q.pattern is not None and re.fullmatch(q.pattern, text.upper()):
        # A well-formed reference cannot carry a name; scanning it only risks
        # a false positive on its digits.
        return Accepted(text.upper())
    if text:
        findings = guard(text, confirmed)
        if findings and not (findings[0].confirm and len(text) > q.max_length):
            return Rejected(findings=findings)  # (too long anyway: say that, don't ask)
    if not text:
        if q.optional:
            return Accepted("")
        return Rejected(errors=("Please type an answer.",))
    if len(text) > q.max_length:
        return Rejected(errors=(f"Please keep it under {q.max_length} characters.",))
    if q.pattern is not None:
        return Rejected(errors=("That does not look like a reference such as FD-2026-000123.",))
    return Accepted(text)


def _choice(q: Question, raw: Any) -> Accepted | Rejected:
    value = raw.strip().lower() if isinstance(raw, str) and q.kind is Kind.YESNO else raw
    if isinstance(value, str) and value in q.values():
        return Accepted(value)
    if q.optional and value in ("", None):
        return Accepted("")
    return Rejected(errors=("Please choose one of the options.",))


def _multi(q: Question, raw: Any) -> Accepted | Rejected:
    picked = [raw] if isinstance(raw, str) else raw
    if not isinstance(picked, list | tuple) or not all(isinstance(v, str) for v in picked):
        return Rejected(errors=("Please choose from the options.",))
    allowed = q.values()
    if any(v not in allowed for v in picked):
        return Rejected(errors=("Please choose from the options.",))
    if not picked and not q.optional:
        return Rejected(errors=("Please choose at least one.",))
    return Accepted([v for v in allowed if v in picked])  # option order, no duplicates


def _date(q: Question, raw: Any, ctx: Context) -> Accepted | Rejected:
    """An ISO date (``2026-03-07``) or local date-time (``2026-03-07T18:30``), not future.

    A date without a time counts from the start of that day, so a clock that
    starts from it (e.g. written confirmation of a phone call) never runs late.
    """
    if not isinstance(raw, str):
        return Rejected(errors=("Please give a date such as 2026-03-07.",))
    text = raw.strip()
    if not text and q.optional:
        return Accepted("")
    try:
        if "T" in text or " " in text:
            when = datetime.fromisoformat(text)
        else:
            when = datetime.combine(date.fromisoformat(text), time())
    except ValueError:
        return Rejected(errors=("Please give a date such as 2026-03-07 or 2026-03-07T18:30.",))
    if when.tzinfo is None:
        when = when.replace(tzinfo=ctx.tz)
    if when > ctx.now + _SKEW:
        return Rejected(errors=("That is in the future: please give a date that has passed.",))
    return Accepted(when.astimezone(ctx.tz).isoformat(timespec="minutes"))
