"""CAF episodes in Teams: the chats to the lead professional and co-ordinator, the CAF team
channel's posts and the anonymous panel item. Pure functions of state, as Slack's
``blocks/caf.py``, with the same words (``bot.wording``).

Buttons carry the episode id and the meeting due date they are about (``verbs.EPISODE``,
``verbs.DUE``), so a click on an old card is told the episode has moved on. Without the
family's consent the panel item shows not even the EHM reference.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from bot import wording
from bot.flows.caf.flows import CLOSE_REASONS as CLOSE_LABELS
from bot.handlers.teams.cards import ac, verbs
from bot.policy import Policy, id_example
from store.models import CafEpisode, TriageCard

day, weeks = wording.day, wording.weeks


def ref(ep: CafEpisode) -> str:
    """``CAF EHM-20417``."""
    return f"CAF {ep.ehm_reference}"


def people(ep: CafEpisode, m: ac.Mentions) -> str:
    """Who holds the CAF."""
    lead = m.person(ep.lead_user_id, nobody="**none yet**")
    return f"Lead professional: {lead} · Co-ordinator: {m.person(ep.coordinator_user_id)}"


def _data(ep: CafEpisode, due: date | None = None) -> dict[str, Any]:
    return {verbs.EPISODE: ep.id, verbs.DUE: due.isoformat() if due else ""}


def meeting_actions(ep: CafEpisode, due: date | None) -> list[ac.Element]:
    """Held on / rearranged to / stuck: ask for help / close the CAF."""
    d = _data(ep, due)
    return [ac.dialog("Meeting held on…", verbs.CAF_HELD, d, style="positive"),
            ac.dialog("Rearranged to…", verbs.CAF_REARRANGED, d),
            ac.dialog("Stuck: ask for help", verbs.CAF_STUCK, d),
            ac.dialog("Close the CAF", verbs.CAF_CLOSE, d, style="destructive")]


_first = wording.caf_first
_cadence = wording.caf_cadence


def _due_line(ep: CafEpisode, policy: Policy) -> str:
    return wording.caf_due_line(ep, policy, lambda s: f"**{s}**")


def _message(body: list[ac.Element], said: str, m: ac.Mentions,
             actions: list[ac.Element] | None = None) -> dict[str, Any]:
    return ac.card_activity(ac.card(body, actions, fallback=said, mentions=m), said)


def registered(ep: CafEpisode, user: str, actor: str, policy: Policy,
               m: ac.Mentions) -> dict[str, Any]:
    """To the lead professional and the co-ordinator when a CAF is registered."""
    role = wording.caf_role(ep, user)
    body = [ac.text(f"**{ref(ep)}** is registered with Front Door; you are {role}."),
            ac.text(_due_line(ep, policy)),
            ac.text(f"{people(ep, m)} · Registered by {m.person(actor)}. Record meetings here "
                    "when they happen; you will be reminded if one is overdue.", subtle=True)]
    return _message(body, f"{ep.ehm_reference}: CAF registered", m,
                    meeting_actions(ep, ep.next_meeting_due))


def tac_overdue(ep: CafEpisode, due: date, policy: Policy, today: date,
                m: ac.Mentions, nudge: int = 1, escalated: str = "") -> dict[str, Any]:
    """The overdue Team Around the Child nudge (a repeat or an escalation as numbered)."""
    late = (today - due).days
    repeat = wording.caf_tac_repeat(nudge, late, escalated)
    body = [ac.text(f"{'🚨' if escalated else '⏰'} **{ref(ep)}: "
                    f"{wording.caf_tac_headline(ep, nudge, escalated)}**"),
            ac.text(f"It was due by **{day(due)}**"
                    + (f" ({late} day{'s' if late != 1 else ''} ago)" if late > 0 else "")
                    + ": " + _cadence(ep, policy) + "."),
            *([ac.text(repeat)] if repeat else []),
            ac.text(wording.CAF_TAC_ASK),
            ac.text(f"{people(ep, m)} · Source: MASH-to-CAF guidance; Barnet CAF team process "
                    "map 2.", subtle=True)]
    return _message(body, f"{ep.ehm_reference}: family planning meeting overdue "
                          f"(due {day(due)})", m, meeting_actions(ep, due))


def reassess(ep: CafEpisode, policy: Policy, m: ac.Mentions) -> dict[str, Any]:
    """Still open after the policy's reassessment period."""
    after = weeks(policy.caf.reassess_after)
    body = [ac.text(f"⌛ **{ref(ep)} is still open {after} after it was completed** "
                    f"({day(ep.completed_on)})."),
            ac.text(wording.CAF_REASSESS_WHAT),
            ac.text(f"{people(ep, m)} · Source: MASH-to-CAF guidance, role of the lead "
                    "professional.", subtle=True)]
    return _message(body, f"{ep.ehm_reference}: CAF open {after}, reassessment due", m,
                    meeting_actions(ep, ep.next_meeting_due))


def update(ep: CafEpisode, said: str, policy: Policy | None, m: ac.Mentions) -> dict[str, Any]:
    """A change to the CAF (``said`` is ours); with ``policy``, the next meeting and buttons."""
    body = [ac.text(f"**{ref(ep)}**: {said}")]
    actions = None
    if policy is not None and ep.status == "open":
        body.append(ac.text(_due_line(ep, policy)))
        actions = meeting_actions(ep, ep.next_meeting_due)
    body.append(ac.text(people(ep, m), subtle=True))
    return _message(body, f"{ep.ehm_reference}: CAF updated", m, actions)


def done(ep: CafEpisode, said: str, m: ac.Mentions) -> dict[str, Any]:
    """An earlier actionable card, redrawn without its buttons once dealt with."""
    body = [ac.text(f"✅ **{ref(ep)}**: {said}"), ac.text(people(ep, m), subtle=True)]
    return _message(body, f"{ep.ehm_reference}: CAF updated", m)


def said(ep: CafEpisode, what: dict[str, Any], actor: str, m: ac.Mentions) -> str:
    """What a CAF change says (``what``: what happened and on what day; ``actor``: who)."""
    kind = what.get("what")
    if kind == "held":
        return (f"the family planning meeting held on {day(date.fromisoformat(what['on']))} "
                f"was recorded by {m.person(actor)}. Next due by {day(ep.next_meeting_due)}.")
    if kind == "rearranged":
        return (f"{m.person(actor)} rearranged the family planning meeting to "
                f"{day(ep.next_meeting_due)}.")
    if kind == "closed":
        return closed_words(ep, actor, m)
    return f"{m.person(actor)} recorded {m.person(ep.lead_user_id)} as the lead professional."


def closed_words(ep: CafEpisode, actor: str, m: ac.Mentions) -> str:
    """What closing says."""
    why = CLOSE_LABELS.get(ep.close_reason or "", ep.close_reason or "")
    return f"closed by {m.person(actor)}: {ac.clip(why, 200)}. No more reminders."


def linked(ep: CafEpisode, card: TriageCard, actor: str, m: ac.Mentions) -> dict[str, Any]:
    """A new Green card linked to an open CAF (MASH-to-CAF guidance, outcome 1)."""
    body = [ac.text(f"**{ref(ep)}**: the front door's card **{card.reference}** (decided Green "
                    f"by {m.person(card.decided_by)}) is linked to this CAF by "
                    f"{m.person(actor)}."),
            ac.text(wording.CAF_LINKED_WHAT),
            ac.text(f"{people(ep, m)} · Source: MASH-to-CAF guidance, outcome 1.", subtle=True)]
    return _message(body, f"{ep.ehm_reference}: new card {card.reference} linked", m,
                    meeting_actions(ep, ep.next_meeting_due))


def stuck_coordinator(ep: CafEpisode, actor: str, note: str, m: ac.Mentions) -> dict[str, Any]:
    """Step 1 of the stuck-CAF route: the co-ordinator is asked for help."""
    body = [ac.text(f"🚧 **{ref(ep)} is stuck**: {m.person(actor)} asks the co-ordinator for "
                    "help."),
            ac.quote(note, 2000),
            ac.text("If you cannot resolve it, **Stuck: ask for help** takes it to the CAF "
                    "social worker, then the CAF Support Panel."),
            ac.text(f"{people(ep, m)} · Source: Barnet CAF team process map 4 (stuck CAFs).",
                    subtle=True)]
    return _message(body, f"{ep.ehm_reference}: stuck, help asked", m,
                    meeting_actions(ep, ep.next_meeting_due))


def stuck_duty(ep: CafEpisode, actor: str, note: str, policy: Policy,
               m: ac.Mentions) -> dict[str, Any]:
    """Step 2: the CAF social worker, in the CAF team's duty channel (advisors mentioned)."""
    advisors = policy.roles.advisors
    tags = " ".join([m.person(u) for u in advisors.users]
                    + [m.group(g) for g in advisors.usergroups])
    body = [ac.text(f"🚧 **{ref(ep)} is stuck** and the co-ordinator could not resolve it: a "
                    f"CAF social worker, please. {tags}".strip()),
            ac.quote(note, 2000),
            ac.text(f"Asked by {m.person(actor)}. If it cannot be resolved here, take it to the "
                    "CAF Support Panel"
                    + ("." if ep.consent else " (anonymously: the family has not consented).")),
            ac.text(f"{people(ep, m)} · Source: Barnet CAF team process map 4; governance "
                    "section 15.", subtle=True)]
    return _message(body, f"{ep.ehm_reference}: stuck CAF for the CAF social worker", m,
                    [ac.dialog("Take to the CAF Support Panel", verbs.CAF_STUCK, _data(ep))])


def panel(ep: CafEpisode, note: str, months_open: int, meetings_held: int,
          m: ac.Mentions) -> dict[str, Any]:
    """Step 3: an item for the CAF Support Panel; without consent, anonymous (no EHM
    reference, no people, no dates: the item number, months open, meetings held, the note)."""
    facts = (f"Open about {months_open} month{'s' if months_open != 1 else ''}; "
             f"{meetings_held} family planning meeting{'s' if meetings_held != 1 else ''} "
             "recorded.")
    item = wording.panel_item(ep.id)
    if not ep.consent:
        body = [ac.text(f"👥 **CAF Support Panel: item {item} (anonymous)**"),
                ac.text(wording.CAF_PANEL_ANONYMOUS),
                ac.quote(note, 2000),
                ac.text(f"{facts} The CAF team can match the item number to the case.",
                        subtle=True)]
        return _message(body, f"CAF Support Panel: anonymous item {item}", m)
    body = [ac.text(f"👥 **CAF Support Panel: {ref(ep)}**"),
            ac.text(wording.CAF_PANEL_PRESENT),
            ac.quote(note, 2000),
            ac.text(f"{people(ep, m)} · {facts}", subtle=True)]
    return _message(body, f"CAF Support Panel: {ep.ehm_reference}", m)


def panel_told(ep: CafEpisode, m: ac.Mentions) -> dict[str, Any]:
    """To the lead professional and co-ordinator when their CAF goes to the panel."""
    how = (f"as anonymous item **{wording.panel_item(ep.id)}** (the family has not consented, "
           "so nothing that identifies them was shared)" if not ep.consent
           else "with its EHM reference")
    return update(ep, f"taken to the CAF Support Panel {how}. The lead professional may be "
                  "invited to present it.", None, m)


def no_lead(ep: CafEpisode, stage: str, m: ac.Mentions) -> dict[str, Any]:
    """The no-lead-professional escalation: the whole route, the step now due marked."""
    lines = []
    for i, (key, words) in enumerate(wording.NO_LEAD_STEPS, start=1):
        lines.append(f"👉 **{i}. {words}**" if key == stage else f"{i}. {words}")
    tail = {"link_worker": ".", "panel": ", and the first family planning meeting is due.",
            "step_down": ", after the panel step."}.get(stage, ".")
    actions = [ac.dialog("Record the lead professional", verbs.CAF_SET_LEAD, _data(ep),
                         style="positive")]
    if stage == "step_down":
        actions.append(ac.dialog("Close the CAF", verbs.CAF_CLOSE, _data(ep),
                                 style="destructive"))
    body = [ac.text(f"⚠️ **{ref(ep)} has no lead professional**{tail}"),
            ac.text("\n\n".join(lines)),
            ac.text(f"Co-ordinator: {m.person(ep.coordinator_user_id)} · Source: MASH-to-CAF "
                    "guidance, challenge and support to identify a lead professional.",
                    subtle=True)]
    return _message(body, f"{ep.ehm_reference}: no lead professional", m, actions)


def closed(ep: CafEpisode, actor: str, m: ac.Mentions) -> dict[str, Any]:
    """For the CAF team duty channel: a closure, for the duty manager's oversight."""
    body = [ac.text(f"🔒 **{ref(ep)}** {closed_words(ep, actor, m)}"),
            ac.text(f"{people(ep, m)} · Barnet process map 2R: closure with management "
                    "oversight.", subtle=True)]
    return _message(body, f"{ep.ehm_reference}: CAF closed", m)



# --------------------------------------------------------------------------- registering


def register_form(policy: Policy, values: dict[str, str], errors: dict[str, str]
                  ) -> dict[str, Any]:
    """``caf``: the registration dialog's card (the fields of Slack's modal). ``values``:
    what to show in the fields again (never a refused one); ``errors``: by input id,
    shown above the field, in words that never quote what was typed."""
    shape = policy.caf
    what, example = id_example("teams")

    def error(input_id: str) -> list[ac.Element]:
        said = errors.get(input_id)
        return [ac.text(said, color="Attention")] if said else []

    def typed(input_id: str, label: str, placeholder: str, *, required: bool,
              max_length: int = 64) -> ac.Element:
        el: ac.Element = {"type": "Input.Text", "id": input_id, "label": label,
                          "placeholder": placeholder, "maxLength": max_length,
                          "value": values.get(input_id, "")}
        if required:
            el.update(isRequired=True, errorMessage="Please fill this in.")
        return el

    consent = ac.choices(verbs.IN_CAF_CONSENT, (
        ("yes", "Yes: the family consented to the CAF"),
        ("no", "No: not consented to sharing")), value=values.get(verbs.IN_CAF_CONSENT),
        label="Family consent", required=True)
    completed: ac.Element = {"type": "Input.Date", "id": verbs.IN_CAF_COMPLETED,
                             "label": "Date the CAF was completed", "isRequired": True,
                             "errorMessage": "Choose the date.",
                             "value": values.get(verbs.IN_CAF_COMPLETED, "")}
    body: list[ac.Element] = [
        ac.text(f"The first family planning meeting is due within "
                f"{weeks(shape.first_meeting_within)} of the CAF being completed, then every "
                f"{weeks(shape.meeting_interval)}. {wording.CAF_NO_NAMES}", subtle=True),
        *error(verbs.IN_CAF_REFERENCE),
        typed(verbs.IN_CAF_REFERENCE, "EHM reference", f"e.g. {shape.reference_example}",
              required=True),
        ac.text("The case system's reference: letters, digits and hyphens. Never a name.",
                subtle=True),
        *error(verbs.IN_CAF_LEAD),
        typed(verbs.IN_CAF_LEAD, "Lead professional (optional)", f"e.g. {example}",
              required=False),
        ac.text(f"{what[0].upper()}{what[1:]}. Leave empty if no lead professional has been "
                "found yet: the front door starts the guidance's route to find one.",
                subtle=True),
        *error(verbs.IN_CAF_COORDINATOR),
        typed(verbs.IN_CAF_COORDINATOR, "CAF co-ordinator", f"e.g. {example}", required=True),
        *error(verbs.IN_CAF_COMPLETED),
        completed,
        *error(verbs.IN_CAF_CONSENT),
        consent,
        ac.text("Without consent, a stuck CAF goes to the CAF Support Panel anonymously.",
                subtle=True),
    ]
    return ac.card(body, [ac.submit("Register", {verbs.ACTION: verbs.CAF_REGISTER})],
                   fallback="Register a CAF")


def register_prompt() -> dict[str, Any]:
    """``caf`` in the chat: a dialog can only be opened from a card, so a card with the
    button that opens it."""
    said = "Register a CAF episode"
    opener = ac.submit("Register a CAF…", {"msteams": {"type": "task/fetch"},
                                           verbs.ACTION: verbs.CAF_REGISTER}, inputs=False)
    return _message([ac.text("Register a CAF episode: the EHM reference, the lead "
                             "professional, the co-ordinator, the date it was completed and "
                             "the family's consent.")], said, ac.Mentions(ac.Directory()),
                    [opener])


def registered_words(ep: CafEpisode, policy: Policy) -> str:
    """The dialog's closing words to whoever registered (Slack's ``registered_text``)."""
    lead = "" if ep.lead_user_id else (" It has no lead professional: the guidance's route to "
                                       "find one has started.")
    return (f"Registered {ref(ep)}. {wording.caf_due_line(ep, policy, str)} The lead "
            f"professional and co-ordinator are told.{lead}")
