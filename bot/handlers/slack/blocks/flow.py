"""The professional's DM: one question at a time, and what the bot says at each end.

Pure functions of a :class:`bot.flows.guided.models.Step` (plus the policy and ``now``
where a message needs them). The answer block of a question has the block_id
``q:{flow_id}:{question_id}`` so that a handler can pass the question id as
``expect`` and a click on an old message changes nothing.

Action ids: Slack refuses two elements with the same ``action_id`` in one
block, so the answer *buttons* are ``flow.answer:0``, ``flow.answer:1``… (match
them with :data:`ANSWER_ACTION_RE`); the static select for long lists is plain
``flow.answer``. Every answer carries the option value as its value.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from bot import wording
from bot.flows.guided.models import Kind, Prompt, Status, Step, Suggestion
from bot.handlers.slack.blocks import ids
from bot.handlers.slack.blocks.cards import OUTCOME_LABELS, rating_badge
from bot.handlers.slack.blocks.text import (
    MAX_OPTIONS,
    PLACEHOLDER_LIMIT,
    Block,
    actions,
    bullets,
    button,
    clip,
    confirm_dialog,
    context,
    esc,
    escape,
    header,
    humanize,
    message,
    option,
    plain,
    section_text,
    sections,
)
from bot.policy import Policy
from store.models import Referral

# Handlers: match answer buttons and the select with one listener.
ANSWER_ACTION_RE = re.compile(rf"^{re.escape(ids.FLOW_ANSWER)}(?::\d+)?$")

_MAX_BUTTONS = 5  # more choices than this read better as a select
_MAX_REASONS = 10

_NO_NAMES_HELP = wording.NO_NAMES_HELP
_RESTART = wording.RESTART


def answer_action_id(index: int) -> str:
    """The action id of the ``index``-th answer button (unique within its block)."""
    return f"{ids.FLOW_ANSWER}:{index}"


def question_block_id(step: Step, prompt: Prompt) -> str:
    """``q:{flow_id}:{question_id}``: the block_id handlers parse for ``expect``."""
    return f"{ids.QUESTION_BLOCK_PREFIX}:{step.flow_id}:{prompt.id}"


_flow_name = wording.flow_name


_options = wording.prompt_options
_as_value = wording.answer_value
_previous_words = wording.previous_words
_iso_date = wording.iso_date


def _placeholder(prompt: Prompt, default: str) -> dict[str, Any]:
    return plain(prompt.placeholder or default, PLACEHOLDER_LIMIT)


def _answer_elements(prompt: Prompt, previous: Any) -> list[dict[str, Any]]:
    """The interactive elements that answer ``prompt`` (none for free text)."""
    options = _options(prompt)
    if prompt.kind in (Kind.CHOICE, Kind.YESNO) and options:
        prev = _as_value(previous)
        if len(options) <= _MAX_BUTTONS:
            return [
                button(
                    o.label,
                    answer_action_id(i),
                    o.value,
                    style="primary" if prev is not None and o.value == prev else None,
                )
                for i, o in enumerate(options)
            ]
        opts = [option(o.label, o.value) for o in options[:MAX_OPTIONS]]
        select: dict[str, Any] = {
            "type": "static_select",
            "action_id": ids.FLOW_ANSWER,
            "placeholder": _placeholder(prompt, "Choose one"),
            "options": opts,
        }
        chosen = [opt for o, opt in zip(options, opts, strict=False) if o.value == prev]
        if chosen:
            select["initial_option"] = chosen[0]
        return [select]
    if prompt.kind == Kind.MULTI and options:
        opts = [option(o.label, o.value) for o in options[:MAX_OPTIONS]]
        multi: dict[str, Any] = {
            "type": "multi_static_select",
            "action_id": ids.FLOW_MULTI,
            "placeholder": _placeholder(prompt, "Choose all that apply"),
            "options": opts,
        }
        if isinstance(previous, (list, tuple, set)):
            wanted = {str(v) for v in previous}
            chosen = [opt for o, opt in zip(options, opts, strict=False) if o.value in wanted]
            if chosen:
                multi["initial_options"] = chosen
        return [multi, button("Next", ids.FLOW_MULTI_DONE, prompt.id, style="primary")]
    if prompt.kind == Kind.DATE:
        picker: dict[str, Any] = {
            "type": "datepicker",
            "action_id": ids.FLOW_DATE,
            "placeholder": _placeholder(prompt, "Choose a date"),
        }
        initial = _iso_date(previous)
        if initial:
            picker["initial_date"] = initial
        return [picker]
    return []


def _nav_elements(step: Step, prompt: Prompt) -> list[dict[str, Any]]:
    """Back / Skip / Cancel; their value is the question id."""
    out: list[dict[str, Any]] = []
    if step.can_go_back:
        out.append(button("Back", ids.FLOW_BACK, prompt.id))
    if prompt.optional:
        out.append(button("Skip", ids.FLOW_SKIP, prompt.id))
    what = wording.flow_what(step.flow_kind)
    out.append(
        button(
            "Cancel",
            ids.FLOW_CANCEL,
            prompt.id,
            style="danger",
            confirm=confirm_dialog(
                f"Cancel this {what}?",
                wording.CANCEL_TEXT,
                "Yes, cancel",
                "No, keep going",
                danger=True,
            ),
        )
    )
    return out


def question_message(step: Step) -> dict:
    """Ask ``step.prompt``: the question, "Step n of m", help, and the ways to answer.

    The answer elements and Back/Skip/Cancel share one actions block whose
    block_id is ``q:{flow_id}:{question_id}``. A previous answer (after Back) is
    pre-selected where Slack can, and always repeated in a context line.
    """
    prompt = step.prompt
    if prompt is None:
        return status_message(step.message or "There is no question waiting for an answer.")
    blocks: list[Block] = [section_text(f"*{esc(prompt.text.strip(), 2990)}*")]
    where = [_flow_name(step.flow_kind)]
    if step.step_total:
        where.append(f"Step {step.step_no} of {step.step_total}")
    if prompt.optional:
        where.append("Optional")
    blocks.append(context(" · ".join(where)))
    if prompt.help.strip():
        blocks.extend(sections(esc(prompt.help, 6000), max_sections=2))

    has_previous = prompt.id in step.answers and step.answers[prompt.id] not in (None, "", [])
    previous = step.answers.get(prompt.id) if has_previous else None
    if has_previous:
        words = esc(_previous_words(prompt, previous), 1500)
        blocks.append(context(f"(your previous answer: {words})"))

    elements = _answer_elements(prompt, previous)
    if not elements:
        hint = wording.TYPE_HERE
        if prompt.kind == Kind.TEXT and prompt.placeholder:
            hint += f"\n_{esc(prompt.placeholder, 500)}_"
        blocks.append(section_text(hint))
    blocks.append(actions(elements + _nav_elements(step, prompt), question_block_id(step, prompt)))

    fallback = prompt.text
    if step.step_total:
        fallback = f"Step {step.step_no} of {step.step_total}: {prompt.text}"
    return message(escape(fallback), blocks)


_TYPE_HERE = wording.TYPE_HERE
_PREVIOUS = "(your previous answer:"


def answered_question(original: dict[str, Any], step: Step) -> dict | None:
    """A question message as it reads once the flow has moved on: its buttons gone, and
    the answer given in their place. ``original`` is the message as posted; None when
    it is no question of this flow, or its question is still the one waiting.

    The answer is named by the option the professional chose (the label they clicked);
    a typed answer is not repeated (it is the professional's own message, just below).
    """
    blocks = list(original.get("blocks") or [])
    prefix = f"{ids.QUESTION_BLOCK_PREFIX}:{step.flow_id}:"
    asked = [b for b in blocks if str(b.get("block_id", "")).startswith(prefix)]
    if not asked:
        return None
    qid = str(asked[0]["block_id"])[len(prefix):]
    if step.status == Status.ASKING and step.prompt is not None and step.prompt.id == qid:
        return None
    labels: dict[str, str] = {}
    chooses = False
    for el in asked[0].get("elements") or []:
        if el.get("action_id", "").startswith(ids.FLOW_ANSWER) and el.get("type") == "button":
            labels[str(el.get("value"))] = str(el["text"]["text"])
            chooses = True
        groups = el.get("option_groups") or [{"options": el.get("options") or []}]
        for opt in (o for g in groups for o in g.get("options") or []):
            labels[str(opt["value"])] = str(opt["text"]["text"])
            chooses = True
        if el.get("type") == "datepicker":
            chooses = True
    answer = step.answers.get(qid)
    if answer in (None, "", []):
        said = "No answer was given to this question."
    elif not chooses:
        said = "Answered: your message below."
    elif isinstance(answer, (list, tuple, set)):
        said = "Your answer: " + ", ".join(labels.get(str(a), str(a)) for a in answer)
    else:
        value = _as_value(answer) or ""
        said = f"Your answer: {labels.get(value, value)}"
    kept = [
        b for b in blocks
        if b is not asked[0]
        and _TYPE_HERE not in str((b.get("text") or {}).get("text", ""))
        and not any(_PREVIOUS in str(e.get("text", "")) for e in b.get("elements") or [])
    ]
    kept.append(context(esc(said, 2900)))
    return message(str(original.get("text") or "Question answered"), kept)


def could_identify(words: list[str]) -> str:
    """The private question about uncertain words (already escaped ``mrkdwn``)."""
    quoted = ", ".join(f"'{esc(w, 60)}'" for w in words[:5])
    return (
        f"Could {quoted} identify the child or family? Names, nicknames and initials all count."
    )


ASK_REPHRASE = "It could: I'll rephrase"
ASK_ORDINARY = "It's an ordinary word here"


def ask_message(step: Step, ordinary_value: str | None) -> dict:
    """The private "is this a name?" question, for an EPHEMERAL message to the professional.

    ``ordinary_value`` carries the answer back when they say it is an ordinary word (None
    when it is too long to carry: they can only rephrase).
    """
    words = [f.word for f in step.findings if f.confirm and f.word]
    blocks: list[Block] = [section_text(":grey_question: " + could_identify(words))]
    ref = f"{step.flow_id}:{step.version}"
    buttons = [button(ASK_REPHRASE, ids.NONAMES_REPHRASE, ref)]
    if ordinary_value is not None:
        buttons.append(button(ASK_ORDINARY, ids.NONAMES_ORDINARY, ordinary_value))
    blocks.append(actions(buttons))
    blocks.append(context("Your answer has not been saved or shared with anyone."))
    return message("Could a word in your answer identify the child?", blocks)


def refused_message(step: Step) -> dict:
    """An answer that was not accepted, for an EPHEMERAL message to the professional only.

    No-names findings are listed (escaped) and then discarded; validation errors
    are listed the same way. The question itself is asked again separately.
    """
    blocks: list[Block] = []
    if step.findings:
        found = bullets(clip(f.label, 500) for f in step.findings[:20])
        blocks.extend(
            sections(
                ":no_entry: I couldn't accept that answer because it contains details that "
                f"could identify a child:\n{found}",
                max_sections=2,
            )
        )
        blocks.append(section_text(_NO_NAMES_HELP))
        blocks.append(context(wording.NOT_SAVED))
    if step.errors:
        errs = bullets(clip(e, 500) for e in step.errors[:20])
        blocks.extend(sections(f"I couldn't accept that answer:\n{errs}", max_sections=2))
    if step.message.strip() and not blocks:
        # The service's own summary of the findings or errors listed above: said once.
        blocks.extend(sections(esc(step.message, 3000), max_sections=1))
    if not blocks:
        blocks.append(section_text("I couldn't accept that answer. Please try again."))
    if step.prompt is not None:
        blocks.append(context(f"The question again: *{esc(step.prompt.text, 2900)}*"))
    return message("I couldn't accept that answer", blocks)


_within = wording.clock_within


def urgent_message(step: Step, policy: Policy, now: datetime) -> dict:
    """The safety gate: call 999 now, then the front door; out of hours, the EDT.

    ``now`` decides whether the front door is open (``policy.calendar.is_open``).
    """
    phones = policy.phones
    emergency = escape(phones.emergency)
    blocks: list[Block] = [
        header(f"If a child is in immediate danger, call {phones.emergency} now."),
        section_text(
            f":rotating_light: *If a child is in immediate danger, call {emergency} now.* "
            "Do not wait for a reply here."
        ),
        section_text(
            f":telephone_receiver: *Then call the front door on {escape(phones.front_door)}* "
            "to make an urgent referral by phone."
        ),
    ]
    if not policy.calendar.is_open(now):
        blocks.append(
            section_text(
                ":crescent_moon: *The front door is closed now.* Call the Emergency Duty Team on "
                f"*{escape(phones.edt)}*."
            )
        )
    if step.reference:
        ref = escape(step.reference)
        blocks.append(
            section_text(
                f"An urgent item has been raised for the duty manager: *{ref}*. "
                "Quote it when you call."
            )
        )
        within = _within(policy, "written_confirmation")
        if within:
            blocks.append(
                context(
                    f"Confirm a phone referral in writing within {within}, in the secure "
                    f"referral form, quoting {ref}."
                )
            )
    if step.message.strip():
        blocks.extend(sections(esc(step.message, 3000), max_sections=1))
    return message(f"If a child is in immediate danger, call {emergency} now.", blocks)


def suggestion_blocks(suggestion: Suggestion, policy: Policy, *, kind: str | None) -> list[Block]:
    """A suggestion, marked as such, with each reason and its source, and the notes."""
    label = OUTCOME_LABELS.get(suggestion.outcome, humanize(suggestion.outcome))
    line = f"*Suggested (not a decision):* {escape(label)}"
    if suggestion.rating:
        line += f"\n*Suggested rating:* {rating_badge(policy, suggestion.rating)}"
    blocks: list[Block] = [section_text(line)]
    for note in suggestion.notes[:5]:
        blocks.append(section_text(f":warning: *{esc(note, 2900)}*"))
    for r in suggestion.reasons[:_MAX_REASONS]:
        parts = [f"• {esc(r.text, 2900)}"]
        if r.source:
            parts.append(f"_Source: {esc(r.source, 2000)}_")
        blocks.append(context(*parts))
    if len(suggestion.reasons) > _MAX_REASONS:
        blocks.append(context(f"… {len(suggestion.reasons) - _MAX_REASONS} more reasons"))
    if kind != "refer":
        blocks.append(context(wording.ONLY_A_SUGGESTION))
    return blocks


def completed_message(step: Step, policy: Policy, referral: Referral | None = None) -> dict:
    """Thanks, the reference, the suggestion (clearly not a decision) and what happens next.

    For a referral, pass the ``referral`` to show completeness and gaps (the
    ``Step`` does not carry them).
    """
    refer = step.flow_kind == "refer"
    ref = escape(step.reference or "")
    what = "referral summary" if refer else "consultation"
    blocks: list[Block] = [header(f"Thank you: your {what} is recorded")]
    if step.reference:
        blocks.append(section_text(f"Your reference is *{ref}*. Please quote it in any follow-up."))
    if step.message.strip():
        # Before the suggestion: it introduces it ("the suggestion below is not a decision").
        blocks.extend(sections(esc(step.message, 3000), max_sections=1))
    if step.suggestion is not None:
        blocks.extend(suggestion_blocks(step.suggestion, policy, kind=step.flow_kind))
    if refer and referral is not None:
        line = f"*Completeness:* {int(referral.completeness or 0)}%"
        if referral.gaps:
            line += "\n*Still missing:*\n" + bullets(humanize(str(g)) for g in referral.gaps)
        blocks.extend(sections(line, max_sections=2))
    if refer:
        blocks.append(
            section_text(
                "*What happens next:* A manager will decide; you'll hear the outcome here."
            )
        )
        blocks.append(
            section_text(
                ":lock: Add the child's identifying details only in the secure referral form, "
                f"quoting *{ref or 'your reference'}*. Never here."
            )
        )
    else:
        blocks.append(section_text("*What happens next:* A duty advisor will reply here."))
    return message(f"Thank you: {what} {step.reference or ''} recorded", blocks)


def redirected_message(step: Step) -> dict:
    """A suspended referral type: not for the front door, and where to go instead."""
    blocks: list[Block] = [
        section_text(f":signpost: *{wording.REDIRECTED}*"),
    ]
    if step.message.strip():
        blocks.extend(sections(esc(step.message, 6000), max_sections=2))
    if step.reference:
        blocks.append(context(f"Reference {escape(step.reference)}"))
    blocks.append(context(wording.REDIRECTED_AGAIN))
    return message("Not for the front door: redirected", blocks)


def cancelled_message(step: Step) -> dict:
    """The flow was cancelled: nothing was sent."""
    # The service says what was cancelled and that nothing was sent: once, not twice.
    said = esc(step.message, 2000) if step.message.strip() else wording.CANCELLED
    blocks = [section_text(f"{said} {_RESTART}")]
    return message("Cancelled: nothing was sent", blocks)


def expired_message(step: Step) -> dict:
    """The flow timed out without an answer: nothing was sent."""
    blocks = [
        section_text(f"{wording.EXPIRED} {_RESTART}")
    ]
    if step.message.strip():
        blocks.append(context(esc(step.message, 2000)))
    return message("This conversation timed out", blocks)


def status_message(text: str) -> dict:
    """A plain message to the professional (escaped; long text split into sections)."""
    return message(escape(text), sections(esc(text, 15000), max_sections=5))
