"""The App Home tab: a professional's own items; a lead professional's CAFs; a manager's
open cards; an advisor's queue.

Pure: the handler loads the rows, this arranges them. Lists are capped so that
the view stays within Slack's 100 blocks whatever is open. A reference whose message
is known (``places``) is a link to it, in the workspace's archive (``archive``:
``https://<team>.slack.com/archives/``, from ``auth.test``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from bot import wording
from bot.flows.caf.flows import STUCK_LABELS
from bot.flows.triage.scheduled import clock_label
from bot.handlers.slack.blocks.caf import meeting_buttons
from bot.handlers.slack.blocks.cards import OUTCOME_LABELS, outcome_label, rating_badge
from bot.handlers.slack.blocks.text import (
    MAX_VIEW_BLOCKS,
    Block,
    cap_blocks,
    context,
    divider,
    due_in_words,
    esc,
    escape,
    header,
    humanize,
    is_overdue,
    mention,
    section_text,
    to_utc,
    when_words,
)
from bot.policy import Policy
from store.models import CafEpisode, Consultation, Referral, TriageCard

# Per-list caps: together with headers they keep the view under 100 blocks.
MAX_MY_ITEMS = 25
MAX_CAFS = 10  # two blocks each: the CAF and its buttons
MAX_CARDS = 30
MAX_CONSULTATIONS = 25

_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)
# Slack's own ids only: anything else in a stored place is not made into a link.
_ID = re.compile(r"[A-Z0-9]{2,40}")
_TS = re.compile(r"\d{1,12}\.\d{6}")

Places = Mapping[str, tuple[str, str]]


def permalink(archive: str | None, conversation: str, ts: str) -> str | None:
    """A message's address in the workspace's archive (the form ``chat.getPermalink``
    gives): ``https://team.slack.com/archives/C0123/p1700000000123456``."""
    if not archive or not _ID.fullmatch(conversation) or not _TS.fullmatch(ts):
        return None
    return f"{archive}{conversation}/p{ts.replace('.', '')}"


def linked(reference: str | None, places: Places, archive: str | None, limit: int = 40) -> str:
    """A reference in bold, a link to its message when the message is known."""
    text = esc(reference or "—", limit)
    where = places.get(reference or "")
    url = permalink(archive, *where) if where else None
    return f"*<{url}|{text}>*" if url else f"*{text}*"


def _sorted_cards(
    open_cards: Sequence[tuple[TriageCard, Referral]], now: datetime
) -> list[tuple[TriageCard, Referral]]:
    """Overdue first, then by due time (UTC instants); cards without a clock last."""

    def key(pair: tuple[TriageCard, Referral]) -> tuple[int, datetime, datetime]:
        card = pair[0]
        due = to_utc(card.due_at) if card.due_at else _FAR_FUTURE
        received = to_utc(card.received_at) if card.received_at else _FAR_FUTURE
        group = 0 if is_overdue(card.due_at, now) else (1 if card.due_at else 2)
        return (group, due, received)

    return sorted(open_cards, key=key)


def _item_outcome(outcome: Any, policy: Policy) -> str:
    """An item's outcome: an outcome key, a rating key, or words (escaped)."""
    if not outcome:
        return "no outcome yet"
    key = str(outcome)
    if key in OUTCOME_LABELS:
        return escape(OUTCOME_LABELS[key])
    if key in policy.ratings:
        return rating_badge(policy, key)
    return esc(humanize(key), 300)


def _my_item_block(item: Mapping[str, Any], policy: Policy, now: datetime,
                   places: Places, archive: str | None) -> Block:
    kind = humanize(str(item.get("kind") or "item")).capitalize()
    ref = linked(item.get("reference"), places, archive)
    status = esc(humanize(str(item.get("status") or "")) or "—", 100)
    said = wording.home_item_said(item, _item_outcome(item.get("outcome"), policy))
    line = f"{ref} · {esc(kind, 60)} · {status}\n{said}"
    created = item.get("created_at")
    if isinstance(created, datetime):
        line += f"\n_Started {when_words(created, now, policy.tz)}_"
    return section_text(line)


def _card_block(card: TriageCard, referral: Referral, policy: Policy, now: datetime,
                places: Places, archive: str | None) -> Block:
    decided = card.rating is not None
    key = card.rating if decided else card.suggested_rating
    line = f"{rating_badge(policy, key)} · {linked(card.reference, places, archive)}"
    if not decided:
        line = f"Suggested {line}"
    if card.due_at:
        due = due_in_words(card.due_at, now, policy.tz)
        flag = ":rotating_light: " if card.breached or is_overdue(card.due_at, now) else ""
        line += f"\n{flag}{escape(clock_label(card.clock))}: {due}"
    else:
        line += "\nNo clock running"
    line += f"\nAssigned to {mention(card.assignee_user_id, nobody='nobody yet')}"
    extras = []
    if referral.kind == "urgent":
        extras.append("urgent")
    if card.info_requested:
        extras.append("information requested")
    if extras:
        line += f" · {', '.join(extras)}"
    return section_text(line)


def _caf_overdue(ep: CafEpisode, today: date) -> bool:
    """A meeting is overdue once its due day is over (as the nudge says)."""
    return ep.next_meeting_due is not None and ep.next_meeting_due < today


def _caf_blocks(ep: CafEpisode, today: date, places: Places, archive: str | None,
                ) -> list[Block]:
    """A lead professional's CAF: its EHM reference, the next meeting due, its buttons."""
    due = ep.next_meeting_due
    when = wording.caf_lead_due(ep, today, lambda s: f"*{s}*")
    if _caf_overdue(ep, today):
        when = f":rotating_light: {when}"
    line = f"CAF {linked(ep.ehm_reference, places, archive, 64)}\n{when}"
    more = [f"Co-ordinator: {mention(ep.coordinator_user_id, nobody='none yet')}"]
    if ep.last_meeting_on:
        more.append(f"last meeting {wording.day(ep.last_meeting_on)}")
    if ep.stuck_stage in STUCK_LABELS:
        more.append(f"help asked of {escape(STUCK_LABELS[ep.stuck_stage])}")
    return [section_text(f"{line}\n{' · '.join(more)}"), meeting_buttons(ep, due)]


def _consultation_block(c: Consultation, policy: Policy, now: datetime, places: Places,
                        archive: str | None) -> Block:
    suggested = escape(outcome_label(c.suggested_outcome))
    line = f"{linked(c.reference, places, archive)} · suggested: {suggested}"
    detail = [f"age band {esc(humanize(c.age_band), 60)}" if c.age_band else "age band not given"]
    if (c.repeat_count or 1) >= 2:
        detail.append(f":warning: consultation {int(c.repeat_count)} about this situation")
    if c.created_at:
        detail.append(f"asked {when_words(c.created_at, now, policy.tz)}")
    return section_text(f"{line}\n{' · '.join(detail)}")


def _list(title: str, rows: list[Block], total: int, empty: str) -> list[Block]:
    """A titled list; ``rows`` are the first of ``total`` items (the rest are counted)."""
    blocks: list[Block] = [divider(), section_text(f"*{title}*")]
    if not rows:
        blocks.append(context(empty))
        return blocks
    blocks.extend(rows)
    if total > len(rows):
        blocks.append(context(f"… {total - len(rows)} more not shown"))
    return blocks


def home_view(
    *,
    user_id: str,
    is_manager: bool,
    is_advisor: bool,
    my_items: list[dict],
    open_cards: list[tuple[TriageCard, Referral]],
    open_consultations: list[Consultation],
    policy: Policy,
    now: datetime,
    my_cafs: Sequence[CafEpisode] = (),
    places: Places | None = None,
    archive: str | None = None,
) -> dict:
    """The App Home view (type ``home``) for one user, at most 100 blocks.

    A lead professional sees their open CAFs first, overdue ones first, each with its
    buttons; everyone sees their own consultations and referrals (newest first);
    managers also see open cards, overdue first then by due time; advisors see open
    consultations, oldest first. References link to their messages (see above).
    """
    places = places or {}
    blocks: list[Block] = [
        header("Front Door"),
        section_text(
            f"Hello {mention(user_id, nobody='there')}. Use */consult* for a no-names "
            "consultation or */refer* for the referral checklist. "
            f"If a child is in immediate danger, call {escape(policy.phones.emergency)}."
        ),
    ]

    def created(item: Mapping[str, Any]) -> datetime:
        value = item.get("created_at")
        return to_utc(value) if isinstance(value, datetime) else datetime.min.replace(tzinfo=UTC)

    if my_cafs:
        today = now.astimezone(policy.tz).date()
        # Overdue first (the longest overdue leading), then the soonest due, then undated.
        cafs = sorted(my_cafs, key=lambda ep: (ep.next_meeting_due is None,
                                               ep.next_meeting_due or date.max,
                                               ep.ehm_reference))
        late = sum(1 for ep in cafs if _caf_overdue(ep, today))
        title = f"Your CAFs as lead professional ({len(cafs)}"
        blocks += [divider(), section_text(f"*{title}{f', {late} overdue' if late else ''})*")]
        for ep in cafs[:MAX_CAFS]:
            blocks += _caf_blocks(ep, today, places, archive)
        if len(cafs) > MAX_CAFS:
            blocks.append(context(f"… {len(cafs) - MAX_CAFS} more not shown"))

    mine = sorted(my_items, key=created, reverse=True)
    blocks += _list(
        "Your consultations and referrals",
        [_my_item_block(item, policy, now, places, archive) for item in mine[:MAX_MY_ITEMS]],
        len(mine),
        "You have no open consultations or referrals.",
    )

    if is_manager:
        cards = _sorted_cards(open_cards, now)
        overdue = sum(1 for card, _ in cards if is_overdue(card.due_at, now))
        title = f"Open triage cards ({len(cards)}"
        title += f", {overdue} overdue)" if overdue else ")"
        blocks += _list(
            title,
            [_card_block(card, ref, policy, now, places, archive)
             for card, ref in cards[:MAX_CARDS]],
            len(cards),
            "No open cards.",
        )

    if is_advisor:
        def asked(c: Consultation) -> datetime:
            return to_utc(c.created_at) if c.created_at else _FAR_FUTURE

        queue = sorted(open_consultations, key=asked)
        blocks += _list(
            f"Open consultations ({len(queue)})",
            [_consultation_block(c, policy, now, places, archive)
             for c in queue[:MAX_CONSULTATIONS]],
            len(queue),
            "No consultations waiting for advice.",
        )

    blocks.append(context(f"Updated {when_words(now, now, policy.tz)}"))
    return {"type": "home", "blocks": cap_blocks(blocks, MAX_VIEW_BLOCKS)}
