"""The professional's chat in Teams: one question at a time, and what the bot says at each
end. Pure functions of a :class:`bot.flows.guided.models.Step`, as Slack's ``blocks/flow.py``.

A question is a card with one input (choices, a date or text) and Action.Submit buttons
whose data carry the flow id, the step version and the question id, so the listener
refuses a click on an old card as Slack's does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot import wording
from bot.flows.guided.models import Kind, Prompt, Status, Step, Suggestion
from bot.handlers.teams.cards import ac, verbs
from bot.labels import humanize, outcome_label, rating_name
from bot.policy import Policy
from store.models import Referral

_MAX_REASONS = 10


_options = wording.prompt_options
_as_value = wording.answer_value
_previous_words = wording.previous_words


def flow_data(step: Step, prompt: Prompt, action: str) -> dict[str, Any]:
    """What a question's button sends: the action and where it was clicked."""
    return {verbs.ACTION: action, verbs.FLOW: step.flow_id, verbs.VERSION: step.version,
            verbs.QUESTION: prompt.id}


def _input(prompt: Prompt, previous: Any) -> ac.Element:
    """The one input that answers ``prompt``."""
    options = _options(prompt)
    required = not prompt.optional
    if prompt.kind in (Kind.CHOICE, Kind.YESNO) and options:
        return ac.choices(verbs.IN_ANSWER, ((o.value, o.label) for o in options),
                          value=_as_value(previous), required=required,
                          placeholder=prompt.placeholder or "Choose one")
    if prompt.kind == Kind.MULTI and options:
        wanted = ",".join(str(v) for v in previous) if isinstance(
            previous, (list, tuple, set)) else None
        return ac.choices(verbs.IN_ANSWER, ((o.value, o.label) for o in options), multi=True,
                          value=wanted, required=required,
                          placeholder=prompt.placeholder or "Choose all that apply")
    if prompt.kind == Kind.DATE:
        el: ac.Element = {"type": "Input.Date", "id": verbs.IN_ANSWER,
                          "placeholder": ac.clip(prompt.placeholder or "Choose a date", 150)}
        initial = wording.iso_date(previous)
        if initial:
            el["value"] = initial
        if required:
            el |= {"isRequired": True, "errorMessage": "Please choose a date."}
        return el
    el = {"type": "Input.Text", "id": verbs.IN_ANSWER, "isMultiline": True, "maxLength": 3000}
    if prompt.placeholder:
        el["placeholder"] = ac.clip(prompt.placeholder, 150)
    if required:
        el |= {"isRequired": True, "errorMessage": "Please type an answer."}
    return el


def _title(step: Step, prompt: Prompt) -> list[ac.Element]:
    where = [wording.flow_name(step.flow_kind)]
    if step.step_total:
        where.append(f"Step {step.step_no} of {step.step_total}")
    if prompt.optional:
        where.append("Optional")
    body = [ac.text(ac.clip(prompt.text.strip(), 2990), weight="Bolder"),
            ac.text(" · ".join(where), subtle=True)]
    if prompt.help.strip():
        body.append(ac.text(ac.clip(prompt.help, 3000)))
    return body


def question(step: Step) -> dict[str, Any]:
    """Ask ``step.prompt``: the question, "Step n of m", help, the input and the buttons
    (Next; Back, Skip, Cancel where they apply). A previous answer (after Back) is
    pre-selected and repeated."""
    prompt = step.prompt
    if prompt is None:
        return status(step.message or "There is no question waiting for an answer.")
    body = _title(step, prompt)
    answered = step.answers.get(prompt.id)
    has_previous = prompt.id in step.answers and answered not in (None, "", [])
    previous = answered if has_previous else None
    if has_previous:
        # Typed words (a text answer) are shown as typed, never parsed.
        body.append(ac.typed(f"{_previous_words(prompt, previous)})", 1500, italic=True,
                             prefix="(your previous answer: "))
    body.append(_input(prompt, previous))
    actions = [ac.submit("Next", flow_data(step, prompt, verbs.FLOW_ANSWER), style="positive")]
    if step.can_go_back:
        actions.append(ac.submit("Back", flow_data(step, prompt, verbs.FLOW_BACK), inputs=False))
    if prompt.optional:
        actions.append(ac.submit("Skip", flow_data(step, prompt, verbs.FLOW_SKIP), inputs=False))
    what = wording.flow_what(step.flow_kind)
    actions.append(ac.show("Cancel", [ac.text(f"**Cancel this {what}?**"),
                                      ac.text(wording.CANCEL_TEXT)],
                           [ac.submit("Yes, cancel", flow_data(step, prompt, verbs.FLOW_CANCEL),
                                      style="destructive", inputs=False)]))
    fallback = prompt.text
    if step.step_total:
        fallback = f"Step {step.step_no} of {step.step_total}: {prompt.text}"
    return ac.card_activity(ac.card(body, actions, fallback=fallback), fallback)


def answered(asked: Step, step: Step) -> dict[str, Any] | None:
    """The question ``asked`` as it reads once the flow has moved on (``step``): its input
    and buttons gone, the answer in their place. None while it is still the question.

    A choice is named by its label; a typed answer is not repeated (it is in the record).
    """
    prompt = asked.prompt
    if prompt is None or asked.flow_id != step.flow_id:
        return None
    if step.status == Status.ASKING and step.prompt is not None and step.prompt.id == prompt.id:
        return None
    answer = step.answers.get(prompt.id)
    if answer in (None, "", []):
        said = "No answer was given to this question."
    elif prompt.kind == Kind.TEXT or not (_options(prompt) or prompt.kind == Kind.DATE):
        said = "Answered."
    else:
        said = f"Your answer: {_previous_words(prompt, answer)}"
    body = [*_title(asked, prompt), ac.typed(said, 2900, italic=True)]
    fallback = prompt.text
    if asked.step_total:
        fallback = f"Step {asked.step_no} of {asked.step_total}: {prompt.text}"
    return ac.card_activity(ac.card(body, fallback=fallback), fallback)


_within = wording.clock_within


def urgent(step: Step, policy: Policy, now: datetime) -> dict[str, Any]:
    """The safety gate: call 999 now, then the front door; out of hours, the EDT."""
    phones = policy.phones
    body: list[ac.Element] = [
        ac.attention([
            ac.heading(f"If a child is in immediate danger, call {phones.emergency} now."),
            ac.text(f"🚨 **If a child is in immediate danger, call {phones.emergency} now.** "
                    "Do not wait for a reply here."),
        ]),
        ac.text(f"📞 **Then call the front door on {phones.front_door}** to make an urgent "
                "referral by phone."),
    ]
    if not policy.calendar.is_open(now):
        body.append(ac.text("🌙 **The front door is closed now.** Call the Emergency Duty Team "
                            f"on **{phones.edt}**."))
    if step.reference:
        body.append(ac.text(f"An urgent item has been raised for the duty manager: "
                            f"**{step.reference}**. Quote it when you call."))
        within = _within(policy, "written_confirmation")
        if within:
            body.append(ac.text(f"Confirm a phone referral in writing within {within}, in the "
                                f"secure referral form, quoting {step.reference}.", subtle=True))
    if step.message.strip():
        body.append(ac.text(ac.clip(step.message, 3000)))
    said = f"If a child is in immediate danger, call {phones.emergency} now."
    return ac.card_activity(ac.card(body, fallback=said), said)


def suggestion(s: Suggestion, policy: Policy, *, kind: str | None) -> list[ac.Element]:
    """A suggestion, marked as such, with each reason and its source, and the notes."""
    line = f"**Suggested (not a decision):** {outcome_label(s.outcome)}"
    if s.rating:
        badge = f"{ac.emoji(policy.ratings[s.rating].emoji)} " if s.rating in policy.ratings \
            else ""
        line += f"\n\n**Suggested rating:** {badge}{rating_name(policy, s.rating)}"
    body = [ac.text(line)]
    for note in s.notes[:5]:
        body.append(ac.text(f"⚠️ **{ac.clip(note, 2900)}**"))
    for r in s.reasons[:_MAX_REASONS]:
        body.append(ac.text(ac.clip(f"- {r.text}", 2900), subtle=True))
        if r.source:
            body.append(ac.text(f"_Source: {ac.clip(r.source, 2000)}_", subtle=True))
    if len(s.reasons) > _MAX_REASONS:
        body.append(ac.text(f"… {len(s.reasons) - _MAX_REASONS} more reasons", subtle=True))
    if kind != "refer":
        body.append(ac.text(wording.ONLY_A_SUGGESTION, subtle=True))
    return body


def completed(step: Step, policy: Policy, referral: Referral | None = None) -> dict[str, Any]:
    """Thanks, the reference, the suggestion (clearly not a decision) and what happens next."""
    refer = step.flow_kind == "refer"
    what = "referral summary" if refer else "consultation"
    body: list[ac.Element] = [ac.heading(f"Thank you: your {what} is recorded")]
    if step.reference:
        body.append(ac.text(f"Your reference is **{step.reference}**. Please quote it in any "
                            "follow-up."))
    if step.message.strip():
        body.append(ac.text(ac.clip(step.message, 3000)))
    if step.suggestion is not None:
        body.extend(suggestion(step.suggestion, policy, kind=step.flow_kind))
    if refer and referral is not None:
        line = f"**Completeness:** {int(referral.completeness or 0)}%"
        if referral.gaps:
            line += "\n\n**Still missing:**\n\n" + ac.bullets(
                humanize(str(g)) for g in referral.gaps)
        body.append(ac.text(line))
    if refer:
        body.append(ac.text("**What happens next:** A manager will decide; you'll hear the "
                            "outcome here."))
        body.append(ac.text("🔒 Add the child's identifying details only in the secure "
                            f"referral form, quoting **{step.reference or 'your reference'}**. "
                            "Never here."))
    else:
        body.append(ac.text("**What happens next:** A duty advisor will reply here."))
    said = f"Thank you: {what} {step.reference or ''} recorded"
    return ac.card_activity(ac.card(body, fallback=said), said)


def redirected(step: Step) -> dict[str, Any]:
    """A suspended referral type: not for the front door, and where to go instead."""
    body: list[ac.Element] = [ac.text(f"🪧 **{wording.REDIRECTED}**")]
    if step.message.strip():
        body.append(ac.text(ac.clip(step.message, 6000)))
    if step.reference:
        body.append(ac.text(f"Reference {step.reference}", subtle=True))
    body.append(ac.text(wording.REDIRECTED_AGAIN, subtle=True))
    said = "Not for the front door: redirected"
    return ac.card_activity(ac.card(body, fallback=said), said)


def cancelled(step: Step) -> dict[str, Any]:
    """The flow was cancelled: nothing was sent (said once)."""
    said = ac.clip(step.message, 2000) if step.message.strip() else wording.CANCELLED
    return ac.text_activity(f"{said} {wording.RESTART}", plain=True)


def expired(step: Step) -> dict[str, Any]:
    """The flow timed out without an answer: nothing was sent."""
    words = f"{wording.EXPIRED} {wording.RESTART}"
    if step.message.strip():
        words += f"\n\n{ac.clip(step.message, 2000)}"
    return ac.text_activity(words, plain=True)


def status(words: str) -> dict[str, Any]:
    """A plain message to the professional."""
    return ac.text_activity(ac.clip(words, 15000), plain=True)

