"""The App Home tab: a professional's own items; a manager's open cards; an advisor's queue.

Pure: the handler loads the rows, this arranges them. Lists are capped so that
the view stays within Slack's 100 blocks whatever is open.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.flows.clocks import clock_label
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
from store.models import Consultation, Referral, TriageCard

# Per-list caps: together with headers they keep the view under 100 blocks.
MAX_MY_ITEMS = 25
MAX_CARDS = 30
MAX_CONSULTATIONS = 25

_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)


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


def _my_item_block(item: Mapping[str, Any], policy: Policy, now: datetime) -> Block:
    kind = humanize(str(item.get("kind") or "item")).capitalize()
    ref = esc(item.get("reference") or "—", 40)
    status = esc(humanize(str(item.get("status") or "")) or "—", 100)
    outcome = _item_outcome(item.get("outcome"), policy)
    if not item.get("outcome"):
        said = "Not decided yet"
    elif item.get("suggested"):  # the bot's suggestion: a person has not decided it
        said = f"Suggested: {outcome} (not yet advised)"
    elif str(item.get("kind")) == "consultation":
        said = f"Advice: {outcome}"
    else:
        said = f"Decision: {outcome}"
    line = f"*{ref}* · {esc(kind, 60)} · {status}\n{said}"
    created = item.get("created_at")
    if isinstance(created, datetime):
        line += f"\n_Started {when_words(created, now, policy.tz)}_"
    return section_text(line)


def _card_block(card: TriageCard, referral: Referral, policy: Policy, now: datetime) -> Block:
    decided = card.rating is not None
    key = card.rating if decided else card.suggested_rating
    line = f"{rating_badge(policy, key)} · *{esc(card.reference, 40)}*"
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


def _consultation_block(c: Consultation, policy: Policy, now: datetime) -> Block:
    line = f"*{esc(c.reference, 40)}* · suggested: {escape(outcome_label(c.suggested_outcome))}"
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
) -> dict:
    """The App Home view (type ``home``) for one user, at most 100 blocks.

    Everyone sees their own consultations and referrals (newest first); managers
    also see open cards, overdue first then by due time; advisors see open
    consultations, oldest first.
    """
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

    mine = sorted(my_items, key=created, reverse=True)
    blocks += _list(
        "Your consultations and referrals",
        [_my_item_block(item, policy, now) for item in mine[:MAX_MY_ITEMS]],
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
            [_card_block(card, ref, policy, now) for card, ref in cards[:MAX_CARDS]],
            len(cards),
            "No open cards.",
        )

    if is_advisor:
        def asked(c: Consultation) -> datetime:
            return to_utc(c.created_at) if c.created_at else _FAR_FUTURE

        queue = sorted(open_consultations, key=asked)
        blocks += _list(
            f"Open consultations ({len(queue)})",
            [_consultation_block(c, policy, now) for c in queue[:MAX_CONSULTATIONS]],
            len(queue),
            "No consultations waiting for advice.",
        )

    blocks.append(context(f"Updated {when_words(now, now, policy.tz)}"))
    return {"type": "home", "blocks": cap_blocks(blocks, MAX_VIEW_BLOCKS)}
