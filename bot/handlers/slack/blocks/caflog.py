"""Renderers for ``/caflog``: the log as a private message, and the filter modal.

The message lists the newest consultations matching a filter, with two
buttons whose value is the filter's text form (``since:2026-11-01
outcome:early_help``): *Filter…* opens the modal, *Export CSV* sends the
whole filtered log to the person's DM as a file. Everything a person typed
(names, roles, contacts, reasons) is escaped and clipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.flows.consultation.log import AGENCY_LABELS, LogEntry, LogFilter
from bot.flows.guided.rules import CATEGORIES
from bot.flows.guided.scripts import AGE_BANDS
from bot.handlers.slack.blocks.cards import OUTCOME_LABELS, outcome_label
from bot.handlers.slack.blocks.text import (
    MAX_VIEW_BLOCKS,
    MODAL_BUTTON_LIMIT,
    MODAL_TITLE_LIMIT,
    PLACEHOLDER_LIMIT,
    Block,
    actions,
    button,
    cap_blocks,
    context,
    divider,
    esc,
    escape,
    header,
    mention,
    message,
    option,
    plain,
    section_text,
    when_words,
)
from bot.labels import CAFLOG_FILTER_LABELS

# Action and callback ids (kept here: they belong to /caflog only).
FILTER = "caflog.filter"
EXPORT = "caflog.export"
MODAL = "modal.caflog"
IN_SINCE = ("caflog_since", "since")
IN_UNTIL = ("caflog_until", "until")
IN_OUTCOME = ("caflog_outcome", "outcome")
IN_CATEGORY = ("caflog_category", "category")
IN_AGENCY = ("caflog_agency", "agency")
IN_ADVISOR = ("caflog_advisor", "advisor")

SHOWN = 10
REFUSED = "Only the front door's duty advisors and managers can read the consultation log."
_AGE = {o.value: o.label for o in AGE_BANDS}


def _entry(e: LogEntry, tz: ZoneInfo, now: datetime) -> Block:
    who = ", ".join(x for x in (e.role, e.agency) if x)
    lines = [
        f"*{escape(e.reference)}* · {when_words(e.received_at, now, tz)} · "
        f"{esc(e.professional or 'Name not given', 200)}"
        + (f" ({esc(who, 300)})" if who else "")
        + (f" · {esc(e.contact, 200)}" if e.contact else ""),
    ]
    cats = ", ".join(CATEGORIES.get(c, c) for c in e.categories) or "no category"
    lines.append(f"Age {escape(_AGE.get(e.age_band, e.age_band) or 'not given')} · "
                 f"{escape(cats)}")
    advice = f"Suggested: {escape(outcome_label(e.suggested_outcome))}"
    if e.given_outcome:
        advice += (f"\nGiven: {escape(outcome_label(e.given_outcome))} by "
                   f"{mention(e.advisor, nobody='an advisor')}")
    else:
        advice += "\nAwaiting advice"
    lines.append(advice)
    if e.followed_advice is True:
        lines.append("The professional followed the advice.")
    elif e.followed_advice is False:
        lines.append(f"Not followed: {esc(e.not_followed_reason or 'no reason given', 1200)}")
    if e.linked_references:
        lines.append(f"Linked to earlier: {escape(', '.join(e.linked_references))} "
                     f"({e.repeat_count} in all)")
    return section_text("\n".join(lines))


def log_message(
    entries: Sequence[LogEntry], total: int, f: LogFilter, tz: ZoneInfo, now: datetime
) -> dict[str, Any]:
    """The newest entries matching ``f`` (``total`` match in all), with Filter and Export."""
    query = f.to_query()
    shown = len(entries)
    count = f"{total} consultation{'s' if total != 1 else ''}"
    blocks: list[Block] = [
        header("CAF consultation log"),
        context(f"{escape(f.describe())} · {count}"
                + (f" · newest {shown} shown" if total > shown else "")),
    ]
    if not entries:
        blocks.append(section_text("No consultations match."))
    for e in entries:
        blocks.append(divider())
        blocks.append(_entry(e, tz, now))
    blocks.append(actions([
        button("Filter…", FILTER, query),
        button("Export CSV", EXPORT, query, style="primary"),
    ], block_id="caflog_actions"))
    return message(f"CAF consultation log: {count}", blocks)


def _select(
    pair: tuple[str, str], label: str, choices: Sequence[tuple[str, str]], current: str | None
) -> Block:
    options = [option(text, value) for value, text in choices]
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": pair[1],
        "placeholder": plain("Any", PLACEHOLDER_LIMIT),
        "options": options,
    }
    chosen = next((o for o in options if o["value"] == current), None)
    if chosen is not None:
        element["initial_option"] = chosen
    return {"type": "input", "block_id": pair[0], "label": plain(label), "element": element,
            "optional": True}


def _date(pair: tuple[str, str], label: str, current: Any) -> Block:
    element: dict[str, Any] = {"type": "datepicker", "action_id": pair[1],
                               "placeholder": plain("Any day", PLACEHOLDER_LIMIT)}
    if current is not None:
        element["initial_date"] = current.isoformat()
    return {"type": "input", "block_id": pair[0], "label": plain(label), "element": element,
            "optional": True}


# The filter modal's field labels, by filter key: its problems name the fields by these.
FILTER_LABELS = CAFLOG_FILTER_LABELS


def filter_modal(f: LogFilter, channel: str) -> dict[str, Any]:
    """The filter modal, showing the current filter; ``private_metadata`` is where to answer."""
    advisor: dict[str, Any] = {"type": "users_select", "action_id": IN_ADVISOR[1],
                               "placeholder": plain("Anyone", PLACEHOLDER_LIMIT)}
    if f.advisor:
        advisor["initial_user"] = f.advisor
    blocks: list[Block] = [
        context("Dates are whole days in the authority's time zone, both included. "
                "Leave a field empty for any."),
        _date(IN_SINCE, FILTER_LABELS["since"], f.since),
        _date(IN_UNTIL, FILTER_LABELS["until"], f.until),
        _select(IN_OUTCOME, "Outcome (given, or suggested until advised)",
                list(OUTCOME_LABELS.items()), f.outcome),
        _select(IN_CATEGORY, FILTER_LABELS["category"], list(CATEGORIES.items()), f.category),
        _select(IN_AGENCY, FILTER_LABELS["agency"], list(AGENCY_LABELS.items()), f.agency),
        {"type": "input", "block_id": IN_ADVISOR[0], "label": plain(FILTER_LABELS["advisor"]),
         "element": advisor, "optional": True},
    ]
    return {
        "type": "modal",
        "callback_id": MODAL,
        "title": plain("Consultation log", MODAL_TITLE_LIMIT),
        "submit": plain("Show", MODAL_BUTTON_LIMIT),
        "close": plain("Cancel", MODAL_BUTTON_LIMIT),
        "private_metadata": channel[:3000],
        "blocks": cap_blocks(blocks, MAX_VIEW_BLOCKS),
    }


def export_comment(f: LogFilter, count: int) -> str:
    """The note that comes with the exported file (no user text)."""
    return (f"The CAF consultation log ({escape(f.describe())}): {count} "
            f"consultation{'s' if count != 1 else ''}. It holds professionals' details: keep it "
            "on council systems and delete it when you are done.")


__all__ = [
    "EXPORT",
    "FILTER",
    "FILTER_LABELS",
    "MODAL",
    "REFUSED",
    "SHOWN",
    "export_comment",
    "filter_modal",
    "log_message",
]
