"""The weekly figures: counts, SLA clocks and time to decision, as a message and a chart.

A week is Monday to Sunday in the policy's time zone. For that week:

* **consultations** received, by outcome (the advisor's, or "awaiting advice"),
  by category (a consultation with two categories counts in both) and by the
  professional's agency; how many were **repeat** consultations (linked to an
  earlier reference) and which reached the policy's repeat threshold;
* **referrals** received, by rating (the manager's decision, or "not decided
  yet"), by category and by agency;
* each **SLA clock** whose deadline fell in the week: met or breached, and the
  percentage met. A clock's breach reminder (``card:{id}:{clock}:breach``)
  records what happened: ``done`` means it fired (breached), ``cancelled``
  means the clock was stopped first (met), still pending past its deadline
  means breached. The decision clock is judged on the card itself: its first
  decision (or its closure) at or before the deadline is met;
* the **median and 90th percentile time to decision** (first decision minus
  receipt, in UTC) of the cards first decided in the week. The percentile is
  interpolated between ranks (as a spreadsheet's PERCENTILE.INC).

Only references, categories, agencies and counts appear: never a child's
details, and no professional's name.
"""

from __future__ import annotations

import io
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from bot.flows.caf import qa as caf_qa
from bot.flows.consultation.log import day_window
from bot.flows.guided.rules import CATEGORIES
from bot.flows.triage.scheduled import CLOCK_LABELS, clock_label
from bot.labels import duration_words, rating_name, to_utc
from bot.policy import RATINGS, Policy
from store.models import Consultation, Decision, Professional, Referral, Reminder, TriageCard

# Short outcome names for a figures line (the cards' labels are whole sentences).
OUTCOME_SHORT: dict[str, str] = {
    "urgent_referral": "Urgent referral",
    "referral": "Referral",
    "early_help": "Early help",
    "continue_caf": "Continue the open CAF",
    "signpost": "Signpost",
    "lado": "LADO",
    "advice_only": "Advice only / NFA",
    "redirect": "Redirected",
    "returned": "Returned",
}
AWAITING = "Awaiting advice"
NOT_DECIDED = "Not decided yet"
NO_AGENCY = "Agency not given"
NO_CATEGORY = "No category"

RATING_COLOURS: dict[str, str] = {
    "red": "#c62828",
    "amber_sh": "#ef6c00",
    "amber_cin": "#f9a825",
    "green": "#2e7d32",
    "blue": "#1565c0",
}
MET_COLOUR = "#2e7d32"
BREACHED_COLOUR = "#c62828"
GREY = "#9e9e9e"


@dataclass(frozen=True)
class ClockFigures:
    """One SLA clock over the week."""

    clock: str
    label: str
    met: int
    breached: int

    @property
    def total(self) -> int:
        """Clocks that ran out or were stopped in the week."""
        return self.met + self.breached

    @property
    def percent_met(self) -> int | None:
        """Whole percent met (None when no clock fell due)."""
        return round(100 * self.met / self.total) if self.total else None


@dataclass
class WeeklyFigures:
    """What happened at the front door in one Monday-to-Sunday week."""

    authority: str
    week_start: date
    week_end: date
    as_of: datetime
    consultations: int = 0
    consultations_by_outcome: dict[str, int] = field(default_factory=dict)
    consultations_by_category: dict[str, int] = field(default_factory=dict)
    consultations_by_agency: dict[str, int] = field(default_factory=dict)
    repeat_consultations: int = 0
    repeat_threshold: int = 3
    at_repeat_threshold: list[str] = field(default_factory=list)
    referrals: int = 0
    referrals_by_rating: dict[str, int] = field(default_factory=dict)
    referrals_by_category: dict[str, int] = field(default_factory=dict)
    referrals_by_agency: dict[str, int] = field(default_factory=dict)
    clocks: list[ClockFigures] = field(default_factory=list)
    decided: int = 0
    median_to_decision: timedelta | None = None
    p90_to_decision: timedelta | None = None
    # A CAF manager's quality assurance (bot.flows.caf.qa): waiting at the week's end;
    # answered in it.
    caf_qa_awaiting: int = 0
    caf_qa_agreed: int = 0
    caf_qa_returned: int = 0

    def to_json(self) -> dict[str, Any]:
        """The figures as plain JSON values (durations in minutes)."""
        data = asdict(self)
        data["week_start"] = self.week_start.isoformat()
        data["week_end"] = self.week_end.isoformat()
        data["as_of"] = self.as_of.isoformat()
        data["clocks"] = [
            {**asdict(c), "percent_met": c.percent_met} for c in self.clocks
        ]
        for key in ("median_to_decision", "p90_to_decision"):
            td = getattr(self, key)
            data[f"{key}_minutes"] = round(td.total_seconds() / 60, 1) if td is not None else None
            del data[key]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WeeklyFigures:
        """The figures ``to_json`` wrote (an intent's data)."""
        d = dict(data)
        minutes = {k: d.pop(f"{k}_minutes", None) for k in ("median_to_decision",
                                                              "p90_to_decision")}
        return cls(**{
            **d, "week_start": date.fromisoformat(d["week_start"]),
            "week_end": date.fromisoformat(d["week_end"]),
            "as_of": datetime.fromisoformat(d["as_of"]),
            "clocks": [ClockFigures(c["clock"], c["label"], c["met"], c["breached"])
                       for c in d.get("clocks") or ()],
            **{k: None if m is None else timedelta(minutes=m) for k, m in minutes.items()},
        })


# --------------------------------------------------------------------------- weeks


def week_start_of(d: date) -> date:
    """The Monday of ``d``'s week."""
    return d - timedelta(days=d.weekday())


def previous_week(now: datetime, policy: Policy) -> date:
    """The Monday of the last whole week before ``now``'s local day."""
    today = now.astimezone(policy.tz).date()
    return week_start_of(today) - timedelta(days=7)


def week_before(report_day: date) -> date:
    """The Monday of the last whole Monday-to-Sunday week ending before ``report_day``."""
    last_sunday = report_day - timedelta(days=report_day.weekday() + 1)
    return last_sunday - timedelta(days=6)


# --------------------------------------------------------------------------- figures


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, interpolated between ranks (PERCENTILE.INC)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _counts(items: Iterable[str]) -> dict[str, int]:
    """Counts, largest first, ties in alphabetical order."""
    return dict(sorted(Counter(items).items(), key=lambda kv: (-kv[1], kv[0])))


def _categories(values: Sequence[Any] | None) -> list[str]:
    cats = [CATEGORIES.get(str(v), str(v)) for v in values or ()]
    return cats or [NO_CATEGORY]


def first_decisions(
    session: Session, card_ids: Iterable[int] | None = None, *,
    window: tuple[datetime, datetime] | None = None,
) -> dict[int, datetime]:
    """Each card's first decision time (a re-rating later does not move it)."""
    first = func.min(Decision.at)
    stmt = select(Decision.card_id, first).group_by(Decision.card_id)
    if card_ids is not None:
        ids = list(card_ids)
        if not ids:
            return {}
        stmt = stmt.where(Decision.card_id.in_(ids))  # type: ignore[attr-defined]
    if window is not None:
        stmt = stmt.having(first >= window[0]).having(first < window[1])
    return {int(cid): at for cid, at in session.exec(stmt).all()}  # type: ignore[call-overload]


def weekly_figures(
    session: Session, policy: Policy, week_start: date, as_of: datetime
) -> WeeklyFigures:
    """Compute the figures of the week starting on Monday ``week_start``, as of ``as_of``."""
    week_start = week_start_of(week_start)
    week_end = week_start + timedelta(days=6)
    start, end = day_window(week_start, week_end, policy.tz)
    assert start is not None and end is not None
    threshold = policy.flows.repeat_consultation_threshold
    fig = WeeklyFigures(policy.authority, week_start, week_end, as_of,
                        repeat_threshold=threshold)

    # Consultations received in the week.
    rows = session.exec(  # type: ignore[call-overload]
        select(Consultation, Professional.agency)
        .join(Professional, Consultation.professional_id == Professional.id)  # type: ignore[arg-type]
        .where(Consultation.created_at >= start)  # type: ignore[arg-type,operator]
        .where(Consultation.created_at < end)  # type: ignore[arg-type,operator]
        .order_by(Consultation.created_at, Consultation.id)  # type: ignore[arg-type]
    ).all()
    fig.consultations = len(rows)
    fig.consultations_by_outcome = _counts(
        OUTCOME_SHORT.get(c.advice_outcome, c.advice_outcome) if c.advice_outcome else AWAITING
        for c, _ in rows
    )
    fig.consultations_by_category = _counts(x for c, _ in rows for x in _categories(c.categories))
    fig.consultations_by_agency = _counts((agency or NO_AGENCY) for _, agency in rows)
    fig.repeat_consultations = sum(1 for c, _ in rows if c.repeat_count > 1)
    fig.at_repeat_threshold = [c.reference for c, _ in rows if c.repeat_count >= threshold]

    # Referrals received in the week (checklist and safety-gate ones).
    refs = session.exec(  # type: ignore[call-overload]
        select(Referral, Professional.agency, TriageCard.rating)
        .join(Professional, Referral.professional_id == Professional.id)  # type: ignore[arg-type]
        .outerjoin(TriageCard, TriageCard.referral_id == Referral.id)  # type: ignore[arg-type]
        .where(Referral.created_at >= start)  # type: ignore[arg-type,operator]
        .where(Referral.created_at < end)  # type: ignore[arg-type,operator]
    ).all()
    fig.referrals = len(refs)
    order = {rating_name(policy, r): i for i, r in enumerate(RATINGS)}
    by_rating = _counts(rating_name(policy, rating) if rating else NOT_DECIDED
                        for _, _, rating in refs)
    fig.referrals_by_rating = dict(sorted(by_rating.items(),
                                          key=lambda kv: order.get(kv[0], len(order))))
    fig.referrals_by_category = _counts(x for r, _, _ in refs for x in _categories(r.categories))
    fig.referrals_by_agency = _counts((agency or NO_AGENCY) for _, agency, _ in refs)

    fig.clocks = _clock_figures(session, start, end, as_of)
    qa = caf_qa.week_figures(session, start, end)
    fig.caf_qa_awaiting, fig.caf_qa_agreed, fig.caf_qa_returned = (
        qa["awaiting"], qa["agreed"], qa["returned"])

    # Time to decision: cards first decided in the week.
    decided = first_decisions(session, window=(start, end))
    received = dict(session.exec(  # type: ignore[call-overload]
        select(TriageCard.id, TriageCard.received_at)
        .where(TriageCard.id.in_(list(decided)))  # type: ignore[union-attr]
    ).all()) if decided else {}
    minutes = [
        (to_utc(at) - to_utc(received[cid])).total_seconds() / 60
        for cid, at in decided.items() if cid in received
    ]
    fig.decided = len(minutes)
    if minutes:
        fig.median_to_decision = timedelta(minutes=percentile(minutes, 0.5))
        fig.p90_to_decision = timedelta(minutes=percentile(minutes, 0.9))
    return fig


def _clock_figures(
    session: Session, start: datetime, end: datetime, as_of: datetime
) -> list[ClockFigures]:
    breaches = session.exec(  # type: ignore[call-overload]
        select(Reminder)
        .where(Reminder.kind == "sla_breach")  # type: ignore[arg-type]
        .where(Reminder.subject_type == "card")  # type: ignore[arg-type]
        .where(Reminder.due_at >= start)  # type: ignore[arg-type,operator]
        .where(Reminder.due_at < end)  # type: ignore[arg-type,operator]
    ).scalars().all()
    decision_ids = [r.subject_id for r in breaches
                    if r.payload.get("clock") == "contact_decision"]
    firsts = first_decisions(session, decision_ids)
    closed = dict(session.exec(  # type: ignore[call-overload]
        select(TriageCard.id, TriageCard.closed_at)
        .where(TriageCard.id.in_(decision_ids))  # type: ignore[union-attr]
    ).all()) if decision_ids else {}
    met: Counter[str] = Counter()
    breached: Counter[str] = Counter()
    for r in breaches:
        clock = str(r.payload.get("clock") or r.key.split(":")[2])
        due = to_utc(r.due_at)
        if clock == "contact_decision":
            done = firsts.get(r.subject_id) or closed.get(r.subject_id)
            if done is not None:
                (met if to_utc(done) <= due else breached)[clock] += 1
            elif due <= to_utc(as_of):
                breached[clock] += 1
            continue
        if r.status == "done":
            breached[clock] += 1
        elif r.status == "cancelled":
            met[clock] += 1
        elif due <= to_utc(as_of):  # pending or claimed past its deadline
            breached[clock] += 1
    names = [c for c in CLOCK_LABELS if c in met or c in breached]
    names += sorted((set(met) | set(breached)) - set(names))
    return [ClockFigures(c, clock_label(c), met[c], breached[c]) for c in names]


# --------------------------------------------------------------------------- words


def _duration(td: timedelta | None) -> str:
    return duration_words(td) if td is not None else "-"


def _period(fig: WeeklyFigures) -> str:
    a, b = fig.week_start, fig.week_end
    if a.year != b.year:
        return f"Mon {a.day} {a:%b %Y} – Sun {b.day} {b:%b %Y}"
    return f"Mon {a.day} {a:%b} – Sun {b.day} {b:%b %Y}"


def _plain(s: str) -> str:
    return s


def _line(counts: dict[str, int], escape: Callable[[str], str]) -> str:
    if not counts:
        return "none"
    return " · ".join(f"{escape(k)} {v}" for k, v in counts.items())


def summary_lines(fig: WeeklyFigures, *, bold: Callable[[str], str] = _plain,
                  escape: Callable[[str], str] = _plain) -> list[str]:
    """The figures as short lines: plain text, or a renderer's markup with its ``bold``
    and ``escape`` (for names that come from data)."""
    b = bold
    lines = [f"{b('Front Door weekly figures')} · {_period(fig)} · {fig.authority}"]
    repeat = f"{fig.repeat_consultations} repeat"
    if fig.at_repeat_threshold:
        repeat += (f"; {len(fig.at_repeat_threshold)} at {fig.repeat_threshold} or more about "
                   f"the same situation: {', '.join(fig.at_repeat_threshold)}")
    lines += [
        f"{b(f'Consultations: {fig.consultations}')} ({repeat})",
        f"• by outcome: {_line(fig.consultations_by_outcome, escape)}",
        f"• by category: {_line(fig.consultations_by_category, escape)}",
        f"• by agency: {_line(fig.consultations_by_agency, escape)}",
        b(f"Referrals: {fig.referrals}"),
        f"• by rating: {_line(fig.referrals_by_rating, escape)}",
        f"• by category: {_line(fig.referrals_by_category, escape)}",
        f"• by agency: {_line(fig.referrals_by_agency, escape)}",
        f"{b('SLA clocks due this week')} (met / breached, % met)",
    ]
    if fig.clocks:
        lines += [f"• {c.label}: {c.met} met, {c.breached} breached ({c.percent_met}%)"
                  for c in fig.clocks]
    else:
        lines.append("• none fell due")
    if fig.caf_qa_agreed or fig.caf_qa_returned or fig.caf_qa_awaiting:  # else nothing to say
        lines.append(f"{b('CAF quality assurance')}: {fig.caf_qa_agreed} agreed, "
                     f"{fig.caf_qa_returned} returned this week; {fig.caf_qa_awaiting} awaiting "
                     "a CAF manager")
    if fig.decided:
        lines.append(f"{b('Time to decision')}: median {_duration(fig.median_to_decision)}, "
                     f"90th percentile {_duration(fig.p90_to_decision)} "
                     f"({fig.decided} decided)")
    else:
        lines.append(f"{b('Time to decision')}: no cards decided")
    return lines


def summary_text(fig: WeeklyFigures, *, markdown: bool = False) -> str:
    """:func:`summary_lines` joined, as plain text (a platform's markup is its renderer's)."""
    if markdown:
        raise ValueError("marked-up figures are drawn by a platform's renderer")
    return "\n".join(summary_lines(fig))


def period(fig: WeeklyFigures) -> str:
    """"Mon 23 Nov – Sun 29 Nov 2026"."""
    return _period(fig)


def chart_filename(fig: WeeklyFigures) -> str:
    """``frontdoor-weekly-2026-11-23.png``."""
    return f"frontdoor-weekly-{fig.week_start.isoformat()}.png"


# --------------------------------------------------------------------------- chart


def render_chart(fig: WeeklyFigures, policy: Policy) -> bytes:
    """A PNG of the week: consultations by outcome, referrals by rating, SLA clocks, agencies.

    Drawn with matplotlib's Agg canvas directly (no pyplot, no display, no
    global state), so it is safe in a worker thread of a headless server.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 7.5), dpi=90, layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(f"Front Door weekly figures · {_period(fig)} · {fig.authority}",
                    fontsize=13, fontweight="bold")
    (a1, a2), (a3, a4) = figure.subplots(2, 2)

    _barh(a1, f"Consultations by outcome ({fig.consultations})", fig.consultations_by_outcome,
          ["#5c6bc0"] * len(fig.consultations_by_outcome))
    by_name = {rating_name(policy, r): RATING_COLOURS.get(r, GREY) for r in RATINGS}
    _barh(a2, f"Referrals by rating ({fig.referrals})", fig.referrals_by_rating,
          [by_name.get(k, GREY) for k in fig.referrals_by_rating])

    a3.set_title("SLA clocks due this week: met and breached", fontsize=11, loc="left")
    if fig.clocks:
        labels = [_short(c.label) for c in fig.clocks][::-1]
        met = [c.met for c in fig.clocks][::-1]
        late = [c.breached for c in fig.clocks][::-1]
        a3.barh(labels, met, color=MET_COLOUR, label="met")
        a3.barh(labels, late, left=met, color=BREACHED_COLOUR, label="breached")
        for y, c in enumerate(fig.clocks[::-1]):
            a3.text(c.total, y, f"  {c.percent_met}% met", va="center", fontsize=9)
        a3.set_xlim(0, max(c.total for c in fig.clocks) * 1.35 + 0.5)
        a3.legend(loc="lower right", fontsize=8, frameon=False)
        a3.xaxis.get_major_locator().set_params(integer=True)
    else:
        _none(a3)

    a4.set_title("By agency: consultations and referrals", fontsize=11, loc="left")
    agencies = sorted(set(fig.consultations_by_agency) | set(fig.referrals_by_agency))
    if agencies:
        ys = list(range(len(agencies)))
        cons = [fig.consultations_by_agency.get(a, 0) for a in agencies]
        refs = [fig.referrals_by_agency.get(a, 0) for a in agencies]
        a4.barh([y + 0.2 for y in ys], cons, height=0.4, color="#5c6bc0", label="consultations")
        a4.barh([y - 0.2 for y in ys], refs, height=0.4, color="#8d6e63", label="referrals")
        a4.set_yticks(ys, [_short(a) for a in agencies])
        a4.legend(loc="best", fontsize=8, frameon=False)
        a4.set_xlim(0, max(cons + refs) * 1.3 + 0.5)
        a4.xaxis.get_major_locator().set_params(integer=True)
    else:
        _none(a4)

    median = _duration(fig.median_to_decision)
    p90 = _duration(fig.p90_to_decision)
    figure.supxlabel(f"Time to decision: median {median}, 90th percentile {p90} "
                     f"({fig.decided} decided). Repeat consultations: "
                     f"{fig.repeat_consultations}.", fontsize=10, color="#424242")
    buf = io.BytesIO()
    figure.savefig(buf, format="png", metadata={"Software": "Front Door"})
    return buf.getvalue()


def _short(label: str, limit: int = 28) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _none(ax: Any) -> None:
    ax.text(0.5, 0.5, "none this week", ha="center", va="center", color=GREY,
            transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _barh(ax: Any, title: str, counts: dict[str, int], colours: list[str]) -> None:
    ax.set_title(title, fontsize=11, loc="left")
    if not counts:
        _none(ax)
        return
    labels = [_short(k) for k in counts][::-1]
    values = list(counts.values())[::-1]
    ax.barh(labels, values, color=colours[::-1])
    for y, v in enumerate(values):
        ax.text(v, y, f" {v}", va="center", fontsize=9)
    ax.set_xlim(0, max(values) * 1.15 + 0.5)
    ax.xaxis.get_major_locator().set_params(integer=True)


def figures_json(fig: WeeklyFigures) -> str:
    """The figures as indented JSON text."""
    return json.dumps(fig.to_json(), indent=2, ensure_ascii=False)


__all__ = [
    "ClockFigures",
    "WeeklyFigures",
    "chart_filename",
    "figures_json",
    "first_decisions",
    "percentile",
    "previous_week",
    "render_chart",
    "summary_lines",
    "summary_text",
    "week_before",
    "weekly_figures",
]
