"""CAF episodes in Slack: the overdue-TAC DM and its buttons, the route notes, the modals.

Pure functions of state (``now`` and dates are passed in). A CAF episode is
shown by its EHM reference only; the people named are staff (the lead
professional, the co-ordinator, whoever acted). The anonymous CAF Support Panel
item shows not even the EHM reference (see :func:`panel_post`).

Buttons carry ``"{episode_id}:{due date}"`` (the due date empty when the message
is not about a particular meeting), so a click on an old message can be told
that the episode has moved on instead of recording against the wrong meeting.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from bot import wording
from bot.flows.caf.flows import CLOSE_REASONS as CLOSE_LABELS
from bot.flows.caf.flows import STUCK_LABELS
from bot.flows.caf.lookup import CafList, CafView
from bot.handlers.slack.blocks import ids
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
    esc,
    escape,
    mention,
    message,
    option,
    plain,
    section_text,
    sections,
)
from bot.policy import Policy
from store.models import CafEpisode, TriageCard

NO_NAMES = wording.CAF_NO_NAMES

# --------------------------------------------------------------------------- small helpers


day = wording.day
weeks = wording.weeks


def ref(ep: CafEpisode) -> str:
    """The episode's name in text: ``CAF EHM-20417`` (escaped)."""
    return f"CAF {escape(ep.ehm_reference)}"


def people(ep: CafEpisode) -> str:
    """Who holds the CAF: "Lead professional: @x · Co-ordinator: @y"."""
    lead = mention(ep.lead_user_id, nobody="*none yet*")
    return f"Lead professional: {lead} · Co-ordinator: {mention(ep.coordinator_user_id)}"


def value(ep: CafEpisode, due: date | None = None) -> str:
    """A button value: the episode id and the meeting due date it is about."""
    return f"{ep.id}:{due.isoformat() if due else ''}"


def parse_value(raw: str | None) -> tuple[int, date | None]:
    """``"12:2026-12-22"`` -> ``(12, date(2026, 12, 22))``; bad input gives ``(0, None)``."""
    head, _, tail = str(raw or "").partition(":")
    if not head.isdigit():
        return 0, None
    try:
        return int(head), date.fromisoformat(tail) if tail else None
    except ValueError:
        return int(head), None


def meeting_buttons(ep: CafEpisode, due: date | None) -> Block:
    """Held on / rearranged to / stuck: ask for help / close the CAF."""
    v = value(ep, due)
    return actions([
        button("Meeting held on…", ids.CAF_HELD, v, style="primary"),
        button("Rearranged to…", ids.CAF_REARRANGED, v),
        button("Stuck: ask for help", ids.CAF_STUCK, v),
        button("Close the CAF", ids.CAF_CLOSE, v, style="danger"),
    ], block_id=f"caf:{ep.id}")


_first = wording.caf_first
_cadence = wording.caf_cadence


def _due_line(ep: CafEpisode, policy: Policy) -> str:
    return wording.caf_due_line(ep, policy, lambda s: f"*{s}*")


# --------------------------------------------------------------------------- DMs


def registered_dm(ep: CafEpisode, user: str, actor: str, policy: Policy) -> dict:
    """To the lead professional and the co-ordinator when a CAF is registered (with buttons)."""
    role = wording.caf_role(ep, user)
    blocks: list[Block] = [
        section_text(f"*{ref(ep)}* is registered with Front Door; you are {role}."),
        section_text(_due_line(ep, policy)),
        context(people(ep), f"Registered by {mention(actor)}. Record meetings here when "
                "they happen; you will be reminded if one is overdue."),
        meeting_buttons(ep, ep.next_meeting_due),
    ]
    return message(f"{escape(ep.ehm_reference)}: CAF registered", blocks)


def tac_overdue_dm(ep: CafEpisode, due: date, policy: Policy, today: date, nudge: int = 1,
                   escalated: str = "") -> dict:
    """The overdue Team Around the Child nudge, to the lead professional and the co-ordinator
    (``nudge``: its number; ``escalated``: "coordinator" or "channel" once ignored)."""
    late = (today - due).days
    icon = ":rotating_light:" if escalated else ":alarm_clock:"
    repeat = wording.caf_tac_repeat(nudge, late, escalated)
    blocks: list[Block] = [
        section_text(f"{icon} *{ref(ep)}: {wording.caf_tac_headline(ep, nudge, escalated)}*"),
        section_text(f"It was due by *{day(due)}*"
                     + (f" ({late} day{'s' if late != 1 else ''} ago)" if late > 0 else "")
                     + ": " + _cadence(ep, policy) + "."),
        *([section_text(repeat)] if repeat else []),
        section_text(wording.CAF_TAC_ASK),
        context(people(ep), "Source: MASH-to-CAF guidance; Barnet CAF team process map 2."),
        meeting_buttons(ep, due),
    ]
    return message(f"{escape(ep.ehm_reference)}: family planning meeting overdue "
                   f"(due {day(due)})", blocks)


def reassess_dm(ep: CafEpisode, policy: Policy) -> dict:
    """Still open after the policy's reassessment period (12 months)."""
    blocks: list[Block] = [
        section_text(f":hourglass: *{ref(ep)} is still open "
                     f"{weeks(policy.caf.reassess_after)} after it was completed* "
                     f"({day(ep.completed_on)})."),
        section_text(wording.CAF_REASSESS_WHAT),
        context(people(ep), "Source: MASH-to-CAF guidance, role of the lead professional."),
        meeting_buttons(ep, ep.next_meeting_due),
    ]
    return message(f"{escape(ep.ehm_reference)}: CAF open "
                   f"{weeks(policy.caf.reassess_after)}, reassessment due", blocks)


def update_dm(ep: CafEpisode, text: str, policy: Policy | None = None) -> dict:
    """A change to the CAF (``text`` is ours); with ``policy``, the next meeting and buttons."""
    blocks: list[Block] = [section_text(f"*{ref(ep)}*: {text}")]
    if policy is not None and ep.status == "open":
        blocks.append(section_text(_due_line(ep, policy)))
        blocks.append(context(people(ep)))
        blocks.append(meeting_buttons(ep, ep.next_meeting_due))
    else:
        blocks.append(context(people(ep)))
    return message(f"{escape(ep.ehm_reference)}: {_strip(text)}", blocks)


def done_dm(ep: CafEpisode, text: str) -> dict:
    """An earlier actionable DM, redrawn without its buttons once it is dealt with."""
    return message(f"{escape(ep.ehm_reference)}: {_strip(text)}", [
        section_text(f":white_check_mark: *{ref(ep)}*: {text}"),
        context(people(ep)),
    ])


def held_text(ep: CafEpisode, held_on: date, actor: str) -> str:
    """What recording a held meeting says."""
    return (f"the family planning meeting held on {day(held_on)} was recorded by "
            f"{mention(actor)}. Next due by {day(ep.next_meeting_due)}.")


def rearranged_text(ep: CafEpisode, actor: str) -> str:
    """What rearranging says."""
    return (f"{mention(actor)} rearranged the family planning meeting to "
            f"{day(ep.next_meeting_due)}.")


def closed_text(ep: CafEpisode, actor: str) -> str:
    """What closing says."""
    why = CLOSE_LABELS.get(ep.close_reason or "", ep.close_reason or "")
    return f"closed by {mention(actor)}: {escape(why)}. No more reminders."


def lead_text(ep: CafEpisode, actor: str) -> str:
    """What recording the lead professional says."""
    return f"{mention(actor)} recorded {mention(ep.lead_user_id)} as the lead professional."


def linked_dm(ep: CafEpisode, card: TriageCard, actor: str, policy: Policy) -> dict:
    """A new Green card linked to an open CAF (MASH-to-CAF guidance, outcome 1)."""
    blocks: list[Block] = [
        section_text(f"*{ref(ep)}*: the front door's card *{escape(card.reference)}* (decided "
                     f"Green by {mention(card.decided_by)}) is linked to this CAF by "
                     f"{mention(actor)}."),
        section_text(wording.CAF_LINKED_WHAT),
        context(people(ep), "Source: MASH-to-CAF guidance, outcome 1."),
        meeting_buttons(ep, ep.next_meeting_due),
    ]
    return message(f"{escape(ep.ehm_reference)}: new card {card.reference} linked", blocks)


# --------------------------------------------------------------------------- the stuck route


def stuck_coordinator_dm(ep: CafEpisode, actor: str, note: str) -> dict:
    """Step 1 of the stuck-CAF route: the co-ordinator is asked for help."""
    blocks: list[Block] = [
        section_text(f":construction: *{ref(ep)} is stuck*: {mention(actor)} asks the "
                     "co-ordinator for help."),
        *sections(f">{esc(note, 2000)}".replace("\n", "\n>"), max_sections=1),
        section_text("If you cannot resolve it, *Stuck: ask for help* takes it to the CAF "
                     "social worker, then the CAF Support Panel."),
        context(people(ep), "Source: Barnet CAF team process map 4 (stuck CAFs)."),
        meeting_buttons(ep, ep.next_meeting_due),
    ]
    return message(f"{escape(ep.ehm_reference)}: stuck, help asked", blocks)


def stuck_duty_post(ep: CafEpisode, actor: str, note: str, policy: Policy) -> dict:
    """Step 2: the CAF social worker, in the CAF team's duty channel (advisors mentioned)."""
    advisors = policy.roles.advisors
    tags = " ".join([mention(u) for u in advisors.users]
                    + [f"<!subteam^{g}>" for g in advisors.usergroups])
    blocks: list[Block] = [
        section_text(f":construction: *{ref(ep)} is stuck* and the co-ordinator could not "
                     f"resolve it: a CAF social worker, please. {tags}".strip()),
        *sections(f">{esc(note, 2000)}".replace("\n", "\n>"), max_sections=1),
        section_text(f"Asked by {mention(actor)}. If it cannot be resolved here, take it to the "
                     "CAF Support Panel"
                     + ("." if ep.consent else " (anonymously: the family has not consented).")),
        context(people(ep), "Source: Barnet CAF team process map 4; governance section 15."),
        actions([button("Take to the CAF Support Panel", ids.CAF_STUCK, value(ep))],
                block_id=f"caf:{ep.id}:duty"),
    ]
    return message(f"{escape(ep.ehm_reference)}: stuck CAF for the CAF social worker", blocks)


def panel_item(ep: CafEpisode) -> str:
    """The anonymous panel item's number (the bot's own id, meaningless outside the CAF team)."""
    return wording.panel_item(ep.id)


def panel_post(ep: CafEpisode, note: str, months_open: int, meetings_held: int) -> dict:
    """Step 3: an item for the CAF Support Panel.

    With the family's consent it carries the EHM reference and the lead
    professional (invited to present). **Without consent it is anonymous**: no EHM
    reference, no lead professional or co-ordinator, no dates; only the panel item
    number (which only the CAF team can match), how long the CAF has been open
    (in whole months), how many meetings were held, and the guarded note.
    """
    quoted = sections(f">{esc(note, 2000)}".replace("\n", "\n>"), max_sections=1)
    facts = (f"Open about {months_open} month{'s' if months_open != 1 else ''}; "
             f"{meetings_held} family planning meeting{'s' if meetings_held != 1 else ''} "
             "recorded.")
    if not ep.consent:
        blocks: list[Block] = [
            section_text(f":busts_in_silhouette: *CAF Support Panel: item {panel_item(ep)} "
                         "(anonymous)*"),
            section_text(wording.CAF_PANEL_ANONYMOUS),
            *quoted,
            context(facts, "The CAF team can match the item number to the case."),
        ]
        return message(f"CAF Support Panel: anonymous item {panel_item(ep)}", blocks)
    blocks = [
        section_text(f":busts_in_silhouette: *CAF Support Panel: {ref(ep)}*"),
        section_text(wording.CAF_PANEL_PRESENT),
        *quoted,
        context(people(ep), facts),
    ]
    return message(f"CAF Support Panel: {escape(ep.ehm_reference)}", blocks)


def panel_told_dm(ep: CafEpisode) -> dict:
    """To the lead professional and co-ordinator when their CAF goes to the panel."""
    how = (f"as anonymous item *{panel_item(ep)}* (the family has not consented, so nothing "
           "that identifies them was shared)" if not ep.consent else "with its EHM reference")
    return update_dm(ep, f"taken to the CAF Support Panel {how}. The lead professional may be "
                     "invited to present it.")


def stuck_confirmation(ep: CafEpisode, stage: str) -> str:
    """What the person who asked for help is told (private)."""
    where = STUCK_LABELS.get(stage, stage)
    if stage == "coordinator":
        where += f" ({mention(ep.coordinator_user_id)})"
    if stage == "panel" and not ep.consent:
        where += f", anonymously as item {panel_item(ep)}"
    return f"Thank you: {ref(ep)} went to {where}. This is recorded."


# --------------------------------------------------------------------------- no lead professional


NO_LEAD_STEPS = wording.NO_LEAD_STEPS


def no_lead_post(ep: CafEpisode, stage: str) -> dict:
    """The no-lead-professional escalation, with the whole route and the step now due."""
    lines = []
    for i, (key, text) in enumerate(NO_LEAD_STEPS, start=1):
        mark = ":point_right: *" if key == stage else ""
        end = "*" if key == stage else ""
        lines.append(f"{mark}{i}. {escape(text)}{end}")
    elements = [button("Record the lead professional", ids.CAF_SET_LEAD, value(ep),
                       style="primary")]
    if stage == "step_down":
        elements.append(button("Close the CAF", ids.CAF_CLOSE, value(ep), style="danger"))
    blocks: list[Block] = [
        section_text(f":warning: *{ref(ep)} has no lead professional*"
                     + {"link_worker": ".", "panel": ", and the first family planning meeting "
                        "is due.", "step_down": ", after the panel step."}.get(stage, ".")),
        section_text("\n".join(lines)),
        context(f"Co-ordinator: {mention(ep.coordinator_user_id)}",
                "Source: MASH-to-CAF guidance, challenge and support to identify a lead "
                "professional."),
        actions(elements, block_id=f"caf:{ep.id}:lead"),
    ]
    return message(f"{escape(ep.ehm_reference)}: no lead professional", blocks)


def closed_post(ep: CafEpisode, actor: str) -> dict:
    """For the CAF team duty channel: a closure, for the duty manager's oversight."""
    return message(f"{escape(ep.ehm_reference)}: CAF closed", [
        section_text(f":lock: *{ref(ep)}* {closed_text(ep, actor)}"),
        context(people(ep), "Barnet process map 2R: closure with management oversight."),
    ])


# --------------------------------------------------------------------------- /caf lookups


def _state(v: CafView, policy: Policy) -> str:
    """Where the episode is: closed (why), overdue (by how long) or when the next is due."""
    ep = v.episode
    if ep.status != "open":
        return "*Closed*" + escape(wording.caf_closed_line(ep, policy, CLOSE_LABELS))
    if v.overdue:
        return (":alarm_clock: *Overdue*: "
                + wording.caf_overdue_line(ep, v.late_days, lambda s: f"*{s}*"))
    return _due_line(ep, policy)


def lookup_message(v: CafView, policy: Policy) -> dict:
    """``/caf EHM-20417``: the CAF's state, its people and the next TAC due (private)."""
    ep = v.episode
    stuck = (f"Asked for help: {STUCK_LABELS[ep.stuck_stage]}."
             if ep.status == "open" and ep.stuck_stage in STUCK_LABELS else "")
    return message(f"{escape(ep.ehm_reference)}: {'overdue' if v.overdue else ep.status}", [
        section_text(f"*{ref(ep)}*\n{_state(v, policy)}"),
        *([section_text(stuck)] if stuck else []),
        context(people(ep), f"Completed on {day(ep.completed_on)}"
                + (f" · last meeting held on {day(ep.last_meeting_on)}"
                   if ep.last_meeting_on else "")),
    ])


def list_message(found: CafList, title: str, empty: str) -> dict:
    """``/caf list`` and ``/caf mine``: open CAFs, overdue first, one line each (private)."""
    if not found.views:
        return message(empty, [section_text(escape(empty))])
    lines = []
    for v in found.views:
        ep = v.episode
        when = wording.caf_list_when(ep, v.overdue, v.late_days)
        lead = mention(ep.lead_user_id, nobody="*no lead professional yet*")
        lines.append(f"• *{escape(ep.ehm_reference)}* · "
                     + (f":alarm_clock: *overdue*: {when}" if v.overdue else when) + f" · {lead}")
    more = found.total - len(found.views)
    return message(f"{title}: {found.total}", [
        section_text(f"*{title}*: {wording.caf_list_head(found.total, found.overdue)}"),
        *sections("\n".join(lines)),
        *([context(f"…and {more} more: look one up with /caf and its EHM reference.")]
          if more > 0 else []),
    ])


# --------------------------------------------------------------------------- modals


def _view(title: str, callback_id: str, metadata: str, blocks: list[Block], submit: str) -> dict:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title, MODAL_TITLE_LIMIT),
        "submit": plain(submit, MODAL_BUTTON_LIMIT),
        "close": plain("Cancel", MODAL_BUTTON_LIMIT),
        "private_metadata": metadata[:3000],
        "blocks": cap_blocks(blocks, MAX_VIEW_BLOCKS),
    }


def _input(pair: tuple[str, str], label: str, element: dict[str, Any], *,
           hint: str | None = None, optional: bool = False) -> Block:
    block: Block = {"type": "input", "block_id": pair[0], "label": plain(label, 2000),
                    "element": {**element, "action_id": pair[1]}, "optional": optional}
    if hint:
        block["hint"] = plain(hint, 2000)
    return block


def _date(initial: date | None = None) -> dict[str, Any]:
    el: dict[str, Any] = {"type": "datepicker", "placeholder": plain("Choose a date",
                                                                     PLACEHOLDER_LIMIT)}
    if initial:
        el["initial_date"] = initial.isoformat()
    return el


def _user(initial: str | None = None) -> dict[str, Any]:
    el: dict[str, Any] = {"type": "users_select", "placeholder": plain("Choose a person",
                                                                       PLACEHOLDER_LIMIT)}
    if initial:
        el["initial_user"] = initial
    return el


def _consent(initial: bool | None) -> dict[str, Any]:
    yes = option("Yes: the family consented to the CAF", "yes")
    no = option("No: not consented to sharing", "no")
    el: dict[str, Any] = {"type": "static_select", "placeholder": plain("Choose one", 150),
                          "options": [yes, no]}
    if initial is not None:
        el["initial_option"] = yes if initial else no
    return el


def _episode_inputs(*, consent: bool | None = None, linking: bool = False) -> list[Block]:
    """The episode's fields; when ``linking`` is possible only the reference is required."""
    need = " (not needed to link an open CAF)" if linking else ""
    return [
        _input(ids.IN_CAF_REFERENCE, "EHM reference",
               {"type": "plain_text_input", "max_length": 64,
                "placeholder": plain("e.g. EHM-20417", PLACEHOLDER_LIMIT)},
               hint="The case system's reference: letters, digits and hyphens. Never a name."),
        _input(ids.IN_CAF_LEAD, "Lead professional", _user(), optional=True,
               hint="Leave empty if no lead professional has been found yet: the front door "
                    "starts the guidance's route to find one."),
        _input(ids.IN_CAF_COORDINATOR, f"CAF co-ordinator{need}", _user(), optional=linking),
        _input(ids.IN_CAF_COMPLETED, f"Date the CAF was completed{need}", _date(),
               optional=linking),
        _input(ids.IN_CAF_CONSENT, f"Family consent{need}", _consent(consent), optional=linking,
               hint="Without consent, a stuck CAF goes to the CAF Support Panel anonymously."),
    ]


def register_modal(policy: Policy) -> dict:
    """``/caf``: register a CAF episode."""
    blocks: list[Block] = [
        context(f"A CAF manager quality assures the assessment; the first family planning "
                f"meeting is due within {weeks(policy.caf.first_meeting_within)} of the plan "
                f"being agreed, then every {weeks(policy.caf.meeting_interval)}. {NO_NAMES}"),
        *_episode_inputs(),
    ]
    return _view("Register a CAF", ids.MODAL_CAF_REGISTER, "", blocks, "Register")


def route_modal(card: TriageCard, consent: bool | None, open_caf: bool) -> dict:
    """Route a decided Green card to a CAF (new, or link to an open one)."""
    lines = [f"*{escape(card.reference)}*: decided Green. Register the CAF episode, or give the "
             "EHM reference of an open CAF to link the card to it."]
    if open_caf:
        lines.append(":information_source: The referrer said there is already an open CAF: "
                     "give its EHM reference (the other fields are then not used).")
    blocks: list[Block] = [context(*lines), *_episode_inputs(consent=consent, linking=True)]
    return _view("Route to a CAF", ids.MODAL_CAF_ROUTE, str(card.id), blocks, "Route")


def held_modal(ep: CafEpisode, due: date | None, today: date) -> dict:
    """Meeting held on (date)."""
    initial = min(due, today) if due else today
    blocks: list[Block] = [
        context(f"*{ref(ep)}*: the next meeting is then due a meeting interval after it."),
        _input(ids.IN_CAF_DATE, "Held on", _date(initial)),
    ]
    return _view("Meeting held", ids.MODAL_CAF_HELD, value(ep, due), blocks, "Record")


def rearranged_modal(ep: CafEpisode, due: date | None) -> dict:
    """Meeting rearranged to (date)."""
    blocks: list[Block] = [
        context(f"*{ref(ep)}*: the new date replaces the due date "
                f"({day(ep.next_meeting_due)})."),
        _input(ids.IN_CAF_DATE, "Rearranged to", _date()),
    ]
    return _view("Meeting rearranged", ids.MODAL_CAF_REARRANGED, value(ep, due), blocks, "Save")


def stuck_modal(ep: CafEpisode, next_stage: str) -> dict:
    """Stuck: ask for help. Says where it will go before anything is sent."""
    where = STUCK_LABELS.get(next_stage, next_stage)
    if next_stage == "coordinator":
        where += f" ({mention(ep.coordinator_user_id)})"
    if next_stage == "panel" and not ep.consent:
        where += ", *anonymously* (the family has not consented: no EHM reference, no names)"
    blocks: list[Block] = [
        context(f"*{ref(ep)}*: this goes to {where}."),
        _input(ids.IN_CAF_NOTE, "What is stuck?",
               {"type": "plain_text_input", "multiline": True, "max_length": 1000},
               hint=f"A few words on what is not moving. {NO_NAMES}"),
    ]
    return _view("Ask for help", ids.MODAL_CAF_STUCK, value(ep, ep.next_meeting_due), blocks,
                 "Send")


def close_modal(ep: CafEpisode, *, initial: str | None = None) -> dict:
    """Close the CAF: a reason."""
    opts = [option(label, key) for key, label in CLOSE_LABELS.items()]
    el: dict[str, Any] = {"type": "static_select", "placeholder": plain("Choose one", 150),
                          "options": opts}
    if initial in CLOSE_LABELS:
        el["initial_option"] = next(o for o in opts if o["value"] == initial)
    blocks: list[Block] = [
        context(f"*{ref(ep)}*: closing stops its reminders. The CAF team duty channel is told, "
                "for the duty manager's oversight; closing with no further action waits for a "
                "CAF manager's agreement."),
        _input(ids.IN_CAF_REASON, "Why is it closing?", el),
    ]
    return _view("Close the CAF", ids.MODAL_CAF_CLOSE, value(ep), blocks, "Close it")


def set_lead_modal(ep: CafEpisode) -> dict:
    """Record the lead professional found for a CAF without one."""
    blocks: list[Block] = [
        context(f"*{ref(ep)}*: the lead professional gets the CAF's reminders from now on."),
        _input(ids.IN_CAF_LEAD, "Lead professional", _user()),
    ]
    return _view("Lead professional", ids.MODAL_CAF_SET_LEAD, value(ep), blocks, "Save")


def registered_text(ep: CafEpisode, policy: Policy, *, linked: bool = False) -> str:
    """The private confirmation to whoever registered or routed."""
    if linked:
        return (f"Linked to the open {ref(ep)}. The lead professional and co-ordinator are "
                "told.")
    lead = "" if ep.lead_user_id else (" It has no lead professional: the guidance's route to "
                                       "find one has started.")
    return (f"Registered {ref(ep)}. {_due_line(ep, policy)} The lead professional and "
            f"co-ordinator are told.{lead}")


def _strip(text: str) -> str:
    """Fallback text: mentions and mrkdwn out (fallbacks are for notifications)."""
    text = re.sub(r"<@([A-Z0-9]+)>", "someone", text)
    return text.replace("*", "")[:200]

