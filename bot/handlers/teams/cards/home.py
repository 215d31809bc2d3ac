"""The "My queue" card in the person's chat with Front Door: what Slack's App Home shows
(``bot.flows.overview`` gives the data) as an Adaptive Card.

Everyone sees their own consultations and referrals (newest first); managers also see
the open triage cards, overdue first then by due time; advisors the open consultations,
oldest first. Times are absolute (``{{DATE()}} {{TIME()}}``, shown in the reader's zone),
a due time then how long from now: true, as the card is drawn afresh whenever it is shown.
Its ``refresh`` (Action.Execute ``home.refresh`` for this person) has Teams ask for it
when the person opens the chat.

Pure: the listener loads the rows, this arranges them. Lists are capped, and shortened
further until the activity fits Teams' limit; what is left out is counted ("and N more").
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from bot import wording
from bot.flows.caf.flows import STUCK_LABELS
from bot.flows.triage.scheduled import clock_label
from bot.handlers.teams.cards import ac, caf, verbs
from bot.handlers.teams.cards.triage import badge
from bot.labels import OUTCOME_LABELS, duration_words, humanize, outcome_label
from bot.labels import to_utc as utc
from bot.policy import Policy
from store.models import CafEpisode, Consultation, Referral, TriageCard

# Per-list caps before the size check (most queues are far shorter).
MAX_CAFS = 10
MAX_MY_ITEMS = 15
MAX_CARDS = 25
MAX_CONSULTATIONS = 20
TITLE = "My queue"
_FAR = datetime.max.replace(tzinfo=UTC)
MAX_UTF16_BYTES = 40 * 1024


def _sorted_cards(open_cards: Sequence[tuple[TriageCard, Referral]], now: datetime
                  ) -> list[tuple[TriageCard, Referral]]:
    """Overdue first, then by due time; cards without a clock last (as App Home)."""

    def key(pair: tuple[TriageCard, Referral]) -> tuple[int, datetime, datetime]:
        card = pair[0]
        due = utc(card.due_at) if card.due_at else _FAR
        group = 0 if card.due_at and due < utc(now) else (1 if card.due_at else 2)
        return group, due, utc(card.received_at) if card.received_at else _FAR

    return sorted(open_cards, key=key)


def _due(due: datetime, now: datetime) -> str:
    """The due time as the cards show it, then how long from ``now``: true here, as the
    card is drawn afresh whenever it is shown (App Home's words)."""
    delta = utc(due) - utc(now)
    left = f"overdue by {duration_words(delta)}" if delta.total_seconds() < 0 else (
        f"in {duration_words(delta)}")
    return f"Due {ac.at(due)} · {left}"


def caf_overdue(ep: CafEpisode, today: date) -> bool:
    """A meeting is overdue once its due day is over (as the nudge says)."""
    return ep.next_meeting_due is not None and ep.next_meeting_due < today


def _ref(raw: Any) -> str:
    return ac.clip(ac.unmarked(str(raw or "—")), 40)


def _outcome(outcome: Any, policy: Policy) -> str:
    if not outcome:
        return "no outcome yet"
    key = str(outcome)
    if key in OUTCOME_LABELS:
        return outcome_label(key)
    if key in policy.ratings:
        return badge(policy, key)
    return ac.clip(ac.unmarked(humanize(key)), 300)


def _mine(item: Mapping[str, Any], policy: Policy) -> ac.Element:
    kind = humanize(str(item.get("kind") or "item")).capitalize()
    status = humanize(str(item.get("status") or "")) or "—"
    said = wording.home_item_said(item, _outcome(item.get("outcome"), policy))
    lines = [f"**{_ref(item.get('reference'))}** · {ac.unmarked(kind)} · "
             f"{ac.unmarked(status)}", said]
    created = item.get("created_at")
    if isinstance(created, datetime):
        lines.append(f"_Started {ac.at(created)}_")
    return ac.text("\n\n".join(lines), separator=True)


def _card(card: TriageCard, referral: Referral, policy: Policy, now: datetime,
          m: ac.Mentions) -> ac.Element:
    decided = card.rating is not None
    line = f"{badge(policy, card.rating if decided else card.suggested_rating)} · " \
           f"**{_ref(card.reference)}**"
    lines = [line if decided else f"Suggested {line}"]
    if card.due_at:
        overdue = card.breached or utc(card.due_at) < utc(now)
        lines.append(f"{'🚨 ' if overdue else ''}{clock_label(card.clock)}: "
                     f"{_due(card.due_at, now)}")
    else:
        lines.append("No clock running")
    extras = [w for w, on in (("urgent", referral.kind == "urgent"),
                              ("information requested", card.info_requested)) if on]
    lines.append(f"Assigned to {m.person(card.assignee_user_id, nobody='nobody yet')}"
                 + (f" · {', '.join(extras)}" if extras else ""))
    return ac.text("\n\n".join(lines), separator=True)


def _consultation(c: Consultation) -> ac.Element:
    detail = [f"age band {ac.unmarked(humanize(c.age_band))}" if c.age_band
              else "age band not given"]
    if (c.repeat_count or 1) >= 2:
        detail.append(f"⚠️ consultation {int(c.repeat_count)} about this situation")
    if c.created_at:
        detail.append(f"asked {ac.at(c.created_at)}")
    return ac.text(f"**{_ref(c.reference)}** · suggested: "
                   f"{outcome_label(c.suggested_outcome)}\n\n{' · '.join(detail)}",
                   separator=True)


def _caf(ep: CafEpisode, today: date, m: ac.Mentions) -> list[ac.Element]:
    """A lead professional's CAF: its EHM reference, the next meeting due, its buttons (the
    same as the CAF's own chat)."""
    due = ep.next_meeting_due
    more = [f"Co-ordinator: {m.person(ep.coordinator_user_id, nobody='none yet')}"]
    if ep.last_meeting_on:
        more.append(f"last meeting {wording.day(ep.last_meeting_on)}")
    if ep.stuck_stage in STUCK_LABELS:
        more.append(f"help asked of {STUCK_LABELS[ep.stuck_stage]}")
    when = wording.caf_lead_due(ep, today, lambda s: f"**{s}**")
    return [ac.text(f"**{caf.ref(ep)}**\n\n{'🚨 ' if caf_overdue(ep, today) else ''}{when}"
                    f"\n\n{' · '.join(more)}", separator=True),
            {"type": "ActionSet", "actions": caf.meeting_actions(ep, due)}]


def _list(title: str, rows: list[ac.Element], total: int, empty: str, *,
          shown: int | None = None) -> list[ac.Element]:
    """A titled list; ``rows`` draw the first ``shown`` (default: one a row) of ``total``
    items (the rest are counted)."""
    out = [ac.text(f"**{title}**", size="Medium", separator=True)]
    if not rows:
        return out + [ac.text(empty, subtle=True)]
    out += rows
    shown = len(rows) if shown is None else shown
    if total > shown:
        out.append(ac.text(f"… and {total - shown} more not shown", subtle=True))
    return out


def home_activity(*, user_mri: str, is_manager: bool, is_advisor: bool,
                  my_items: list[dict[str, Any]],
                  open_cards: list[tuple[TriageCard, Referral]],
                  open_consultations: list[Consultation], policy: Policy,
                  now: datetime, my_cafs: Sequence[CafEpisode] = (),
                  places: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The "My queue" message for one person (``user_mri``: their Teams id, ``29:…``,
    which the card's refresh names), under Teams' size limit. ``places`` (where each
    reference's message is) is not drawn: Teams' links to a message need ids the Bot
    Connector does not give."""
    caps = [MAX_MY_ITEMS, MAX_CARDS, MAX_CONSULTATIONS, MAX_CAFS]
    while True:
        activity = _draw(caps, user_mri, is_manager, is_advisor, my_items, open_cards,
                         open_consultations, policy, now, my_cafs)
        if fits(activity) or not any(caps):
            return activity
        caps = [c * 3 // 4 for c in caps]  # shorter lists until it fits


def fits(activity: dict[str, Any]) -> bool:
    """Under Teams' limits as Microsoft's pages give them: about 28 KB, and 40 KB counted
    in UTF-16 (two bytes a character: the stricter one for a long queue)."""
    return (ac.size(activity) <= ac.MAX_ACTIVITY_BYTES
            and len(json.dumps(activity).encode("utf-16-le")) <= MAX_UTF16_BYTES)


def home_card(activity: dict[str, Any]) -> dict[str, Any]:
    """The card itself (what a refresh answers with)."""
    return activity["attachments"][0]["content"]  # type: ignore[no-any-return]


def _draw(caps: list[int], user_mri: str, is_manager: bool, is_advisor: bool,
          my_items: list[dict[str, Any]], open_cards: list[tuple[TriageCard, Referral]],
          open_consultations: list[Consultation], policy: Policy, now: datetime,
          my_cafs: Sequence[CafEpisode]) -> dict[str, Any]:
    m = ac.Mentions(ac.Directory())
    body: list[ac.Element] = [
        ac.heading(TITLE),
        ac.text("Type **consult** for a no-names consultation or **refer** for the referral "
                "checklist. If a child is in immediate danger, call "
                f"{ac.unmarked(policy.phones.emergency)}."),
    ]

    def created(item: Mapping[str, Any]) -> datetime:
        value = item.get("created_at")
        return utc(value) if isinstance(value, datetime) else datetime.min.replace(tzinfo=UTC)

    if my_cafs:
        today = now.astimezone(policy.tz).date()
        cafs = list(my_cafs)  # overdue first, then the soonest due (the overview's order)
        late = sum(1 for ep in cafs if caf_overdue(ep, today))
        rows = [el for ep in cafs[:caps[3]] for el in _caf(ep, today, m)]
        body += _list(f"Your CAFs as lead professional ({len(cafs)}"
                      + (f", {late} overdue)" if late else ")"), rows, len(cafs), "",
                      shown=min(len(cafs), caps[3]))
    mine = sorted(my_items, key=created, reverse=True)
    body += _list("Your consultations and referrals",
                  [_mine(i, policy) for i in mine[:caps[0]]], len(mine),
                  "You have no open consultations or referrals.")
    if is_manager:
        cards = _sorted_cards(open_cards, now)
        overdue = sum(1 for c, _ in cards if c.due_at and utc(c.due_at) < utc(now))
        title = f"Open triage cards ({len(cards)}" + (f", {overdue} overdue)" if overdue
                                                      else ")")
        body += _list(title, [_card(c, r, policy, now, m) for c, r in cards[:caps[1]]],
                      len(cards), "No open cards.")
    if is_advisor:
        queue = sorted(open_consultations,
                       key=lambda c: utc(c.created_at) if c.created_at else _FAR)
        body += _list(f"Open consultations ({len(queue)})",
                      [_consultation(c) for c in queue[:caps[2]]], len(queue),
                      "No consultations waiting for advice.")
    body.append(ac.text(f"Updated {ac.at(now)}", subtle=True, separator=True))
    refresh = ac.execute("Refresh", verbs.HOME_REFRESH, {})
    card = ac.card(body, [refresh], fallback=TITLE, mentions=m)
    card["refresh"] = {"action": {k: v for k, v in refresh.items() if k != "associatedInputs"},
                       "userIds": [user_mri]}
    return ac.card_activity(card, TITLE)
