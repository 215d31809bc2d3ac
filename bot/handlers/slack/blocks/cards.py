"""Cards in channels and the DMs that follow from them: pure functions of state.

A triage card shows a manager everything needed to decide (the suggestion and
why, the summary, consent, gaps, the running clock) and the buttons to do it.
A consultation card does the same for a duty advisor. Nothing here identifies
a child: cards carry a reference; the only people named are staff and the
professional asking (whose own details belong in the consultation log).

Renderers take ``now`` rather than reading the clock, so a card re-rendered
from the same state is the same card.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.flows.clocks import clock_label
from bot.flows.rules import CATEGORIES
from bot.flows.scripts import answer_labels
from bot.handlers.slack.blocks import ids
from bot.handlers.slack.blocks.text import (
    SECTION_LIMIT,
    Block,
    actions,
    bullets,
    button,
    cap_blocks,
    clip,
    confirm_dialog,
    context,
    divider,
    due_in_words,
    duration_words,
    esc,
    escape,
    fields_section,
    header,
    humanize,
    mention,
    message,
    option,
    plain,
    section_text,
    sections,
    when_words,
)
from bot.labels import ADVICE_OUTCOMES as ADVICE_OUTCOMES  # re-exported for the blocks
from bot.labels import OUTCOME_LABELS as OUTCOME_LABELS
from bot.labels import outcome_label as outcome_label
from bot.labels import rating_name as rating_name
from bot.policy import Policy
from store.models import Consultation, Decision, Professional, Referral, TriageCard

CONSENT_LABELS: dict[str, str] = {
    "given": "Consent given",
    "refused": "Consent refused",
    "not_sought": "Consent not sought yet",
    "unsafe": "Not sought: asking would put the child at risk",
    "not_required": "Consent not required",
    "": "Not recorded",
}


# Summary answers in the order a manager reads a good referral; other keys follow.
# Keys are the question ids of bot/flows/scripts.py (plus a few plain aliases).
SUMMARY_LABELS: dict[str, str] = {
    "want": "What they would like from the consultation",
    "ref_type": "Kind of referral",
    "worried": "What are the worries",
    "worries": "What are the worries",
    "lado": "About someone who works or volunteers with children",
    "risks": "Risks to the child, and why",
    "level": "How serious the referrer thinks it is",
    "why_now": "What has prompted this now",
    "tried": "What has been tried",
    "eha": "Early Help Assessment offered or done",
    "open_caf": "Open CAF or early help plan",
    "parents_aware": "Are the parents or carers aware",
    "child_voice": "Voice of the child",
    "gillick": "Young person spoken to directly (Gillick)",
    "parent_voice": "Voice of the parents or carers",
    "referrer_done": "What the referrer has done",
    "support_needed": "What support the family needs",
}

# Answers shown elsewhere on a card (fields, consent, header) or only used for routing.
SUMMARY_SKIP: frozenset[str] = frozenset(
    {
        "danger",
        "role",
        "agency",
        "age_band",
        "categories",
        "consent",
        "consent_status",
        "consent_reason",
        "suspended_check",
        "before",
        "earlier_ref",
        "phoned",
        "phoned_at",
        "notes",
        "safety_gate",
        "flow",
        "suggestion",
        "answers",
    }
)

NEXT_STEPS: dict[str, str] = {
    "red": "The assessment team will hold a strategy discussion and may start a section 47 "
    "enquiry. They may contact you for more information.",
    "amber_sh": "The MASH will gather information from partner agencies and decide on the next "
    "step. They may contact you for more information.",
    "amber_cin": "An assessment team will contact the family about a child and family "
    "assessment.",
    "green": "The early help team will contact the family about early help. It is a "
    "consent-based service.",
    "blue": "There is no role for children's social care. Please keep supporting the family "
    "and signpost them to universal or community services.",
    # Green for a child with an open CAF (MASH-to-CAF guidance, outcome 1): no new assessment.
    "continue_caf": "The child's open CAF continues: no new assessment is started, and the "
    "family plan is strengthened with these worries. Please tell the CAF's lead professional "
    "too; the next team around the family meeting may be brought forward.",
}

_MAX_SUMMARY_SECTIONS = 14
_OPTION_VALUE = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*$")


# --------------------------------------------------------------------------- small helpers


def rating_badge(policy: Policy, key: str | None) -> str:
    """Emoji plus label, escaped for ``mrkdwn`` (":red_circle: Red")."""
    rating = policy.ratings.get(key) if key else None
    name = escape(rating_name(policy, key))
    return f"{rating.emoji} {name}" if rating is not None and rating.emoji else name


def _words(values: Sequence[Any] | None) -> str:
    """Categories in their census words ("Housing / financial"), never their keys."""
    items = [CATEGORIES.get(str(v), humanize(str(v))) for v in values or () if str(v).strip()]
    return escape(", ".join(items)) if items else "—"


def _age_band(policy: Policy, key: str | None) -> str:
    """An age band as the professional chose it ("Unborn", "5–10"), escaped."""
    label = answer_labels(policy).get("age_band", {}).get(key or "", humanize(key or ""))
    return esc(label or "Not given", 200)


def _answer_text(value: Any) -> str:
    """A stored answer as words (unescaped)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, (list, tuple)):
        return ", ".join(_answer_text(v) for v in value if v is not None)
    if isinstance(value, Mapping):
        return "; ".join(f"{humanize(str(k))}: {_answer_text(v)}" for k, v in value.items())
    return str(value)


def summary_parts(summary: Mapping[str, Any] | None) -> tuple[Mapping[str, Any], list[str]]:
    """Split a stored summary into (answers, suggestion notes).

    The flows store ``{"answers": {...}, "suggestion": {"notes": [...]}}``; a flat
    mapping of answers is accepted too, so older or hand-made rows still render.
    """
    if not isinstance(summary, Mapping):
        return {}, []
    answers = summary.get("answers")
    if not isinstance(answers, Mapping):
        answers = summary
    raw: Any = None
    suggestion = summary.get("suggestion")
    if isinstance(suggestion, Mapping):
        raw = suggestion.get("notes")
    if not raw:
        raw = summary.get("notes")
    if isinstance(raw, str):
        notes = [raw]
    elif isinstance(raw, (list, tuple)):
        notes = [_answer_text(n) for n in raw if _answer_text(n).strip()]
    else:
        notes = []
    return answers, notes


def summary_blocks(
    summary: Mapping[str, Any] | None,
    *,
    skip: Sequence[str] = (),
    labels: Mapping[str, Mapping[str, str]] | None = None,
) -> list[Block]:
    """One section per answered summary question, known questions first; missing keys skipped.

    ``labels`` (from :func:`bot.flows.scripts.answer_labels`) turns a stored option value
    into the words the professional chose ("dont_know" -> "Don't know").
    """
    answers, _ = summary_parts(summary)
    if not answers:
        return []
    known = [k for k in SUMMARY_LABELS if k in answers]
    others = [k for k in answers if k not in SUMMARY_LABELS]
    blocks: list[Block] = []
    shown = 0
    for key in known + others:
        if key in skip or key in SUMMARY_SKIP or str(key).startswith("_"):
            continue
        raw = answers.get(key)
        words = (labels or {}).get(key, {})
        if words and isinstance(raw, (str, list, tuple)):
            raw = [words.get(str(v), v) for v in raw] if not isinstance(raw, str) else (
                words.get(raw, raw))
        value = _answer_text(raw).strip()
        if not value:
            continue
        label = escape(SUMMARY_LABELS.get(key) or humanize(str(key)).capitalize())
        label = clip(label, 200)
        if shown == _MAX_SUMMARY_SECTIONS:
            blocks.append(context("… more answers not shown"))
            break
        if _OPTION_VALUE.match(value):
            value = humanize(value).capitalize()  # a stored option value such as "not_offered"
        # Clip rather than split: a card stays scannable; the full answer is in the store.
        blocks.append(section_text(f"*{label}*\n{esc(value, SECTION_LIMIT - len(label) - 4)}"))
        shown += 1
    return blocks


def notes_block(notes: Sequence[str]) -> Block | None:
    """Suggestion notes (e.g. "third consultation about this situation"), prominently."""
    if not notes:
        return None
    lines = "\n".join(f":warning: *{esc(n, 1000)}*" for n in notes[:5])
    return section_text(lines)


def reasons_text(reasons: Sequence[Mapping[str, Any]] | Sequence[Any]) -> str:
    """Reasons as bullets with their sources, escaped: "• text (_source_)"."""
    lines = []
    for r in reasons:
        text = r.get("text", "") if isinstance(r, Mapping) else getattr(r, "text", "")
        source = r.get("source", "") if isinstance(r, Mapping) else getattr(r, "source", "")
        line = f"• {escape(str(text or ''))}"
        if source:
            line += f"\n      _Source: {escape(str(source))}_"
        lines.append(line)
    return "\n".join(lines)


def _consent(status: str | None) -> str:
    return escape(CONSENT_LABELS.get(status or "", humanize(status or "")))


def _ordinal(n: int) -> str:
    words = {2: "second", 3: "third", 4: "fourth", 5: "fifth", 6: "sixth"}
    if n in words:
        return words[n]
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _is_decided(card: TriageCard) -> bool:
    return card.rating is not None or card.status == "decided"


# --------------------------------------------------------------------------- triage card


def triage_card(
    card: TriageCard,
    referral: Referral,
    policy: Policy,
    now: datetime,
    last: Decision | None = None,
) -> dict:
    """The triage card in a manager channel: suggestion or decision, summary, clock, buttons.

    ``last`` is the card's newest Decision: a changed rating shows what it was changed
    from and the manager's reason. Buttons carry ``str(card.id)``; a decided card has no
    Approve button and a closed card has no buttons at all.
    """
    tz = policy.tz
    ref = card.reference
    decided = _is_decided(card)
    closed = card.status == "closed"
    key = card.rating if decided and card.rating else card.suggested_rating
    name = rating_name(policy, key)

    if closed:
        title = f"{ref} — Closed ({name})"
    elif decided:
        title = f"{ref} — Rating: {name}"
    else:
        title = f"{ref} — Suggested: {name}"
    blocks: list[Block] = [header(title)]

    if card.breached and not closed:
        words = due_in_words(card.due_at, now, tz) if card.due_at else "deadline passed"
        blocks.append(
            section_text(
                f":rotating_light: *SLA BREACHED* — {escape(clock_label(card.clock))}: {words}"
            )
        )

    # The rating: a suggestion until a manager's click makes it a decision.
    if decided:
        changed = last if last is not None and last.action == "change" else None
        if changed is not None:
            was = changed.old_rating  # the rating it had, or the suggestion
        elif card.rating not in (None, card.suggested_rating):
            was = card.suggested_rating  # a card drawn without its decisions
        else:
            was = None
        verb = f"changed from {escape(rating_name(policy, was))}" if was else "approved"
        line = f"*Rating:* {rating_badge(policy, key)} — {verb} by {mention(card.decided_by)}"
        if card.decided_at:
            line += f" ({when_words(card.decided_at, now, tz)})"
        if changed is not None and changed.reason:
            line += f"\n*Why:* {esc(changed.reason, 1500)}"
    else:
        line = (
            f"*Suggested:* {rating_badge(policy, key)} — "
            "_a suggestion from the answers, not a decision_"
        )
    rating = policy.ratings.get(key or "")
    if rating is not None:
        line += f"\n{escape(rating.meaning)}\n_Goes to:_ {escape(rating.route)}"
    blocks.append(section_text(line))
    _, suggestion_notes = summary_parts(referral.summary)
    note = notes_block(suggestion_notes)
    if note is not None:
        blocks.append(note)

    if closed:
        closed_line = ":lock: *Closed*"
        if card.closed_at:
            closed_line += f" {when_words(card.closed_at, now, tz)}"
        if card.close_reason:
            closed_line += f" — {esc(card.close_reason, 2500)}"
        blocks.append(section_text(closed_line))

    if closed:
        due = "Stopped (closed)"
    elif card.due_at:
        due = f"{escape(clock_label(card.clock))}: {due_in_words(card.due_at, now, tz)}"
    else:
        due = "No clock running"
    kind = "Urgent (safety gate)" if referral.kind == "urgent" else "Referral checklist"
    pairs: list[tuple[str, str]] = [
        ("Kind", kind),
        ("Age band", _age_band(policy, referral.age_band)),
        ("Categories", _words(referral.categories)),
        ("Consent", _consent(referral.consent_status)),
        ("Completeness", f"{int(referral.completeness or 0)}%"),
        ("Clock", due),
        ("Assigned to", mention(card.assignee_user_id, nobody="Nobody yet")),
        ("Received", when_words(card.received_at, now, tz) if card.received_at else "—"),
        ("Referred by", mention(card.referrer_user_id, nobody="Unknown")),
    ]
    if card.info_requested:
        pairs.append(("More information", ":speech_balloon: Requested from the referrer"))
    blocks.append(fields_section(pairs))

    if card.suggested_reasons:
        blocks.extend(
            sections(
                f"*Why {escape(rating_name(policy, card.suggested_rating))} was suggested*\n"
                f"{reasons_text(card.suggested_reasons)}",
                max_sections=2,
            )
        )

    blocks.extend(summary_blocks(referral.summary, labels=answer_labels(policy)))

    if referral.consent_reason:
        blocks.append(
            section_text(
                f"*Consent:* {_consent(referral.consent_status)} — "
                f"{esc(referral.consent_reason, 2800)}"
            )
        )

    if referral.gaps:
        gaps = bullets(humanize(str(g)) for g in referral.gaps)
        blocks.extend(
            sections(
                f"*Gaps in the referral* (completeness {int(referral.completeness or 0)}%)\n{gaps}",
                max_sections=2,
            )
        )

    notes: list[str] = []
    if referral.suspended_type:
        st = {t.id: t.label for t in policy.suspended_types}
        label = st.get(referral.suspended_type, humanize(referral.suspended_type))
        notes.append(f"Suspended referral type: {esc(label, 200)}")
    if referral.phone_referral:
        if referral.written_confirmed_at:
            notes.append(
                "Phone referral, confirmed in writing "
                f"{when_words(referral.written_confirmed_at, now, tz)}"
            )
        else:
            notes.append("Phone referral: written confirmation awaited")
    if card.caf_episode_id:
        notes.append("Linked to an open CAF episode")
    notes.append(f"Reference {escape(ref)}: match it in the case system")
    blocks.append(context(*notes))

    keep = 1
    if not closed:
        blocks.append(_card_actions(card, policy, referral))
        keep = 2

    fallback = f"{ref}: {'Rating' if decided else 'Suggested'} {name}"
    if closed:
        fallback = f"{ref}: closed"
    elif card.breached:
        fallback += " (SLA breached)"
    return {"text": clip(fallback, 300), "blocks": cap_blocks(blocks, 50, keep_last=keep)}


def _card_actions(card: TriageCard, policy: Policy, referral: Referral | None = None) -> Block:
    value = str(card.id)
    elements: list[dict[str, Any]] = []
    if not _is_decided(card):
        elements.append(button("Approve rating", ids.CARD_APPROVE, value, style="primary"))
    if referral is not None and referral.phone_referral and not referral.written_confirmed_at:
        # Stops the written-confirmation clock of an urgent phone referral.
        elements.append(button("Written referral received", ids.CARD_WRITTEN, value))
    elements.append(button("Change rating", ids.CARD_CHANGE, value))
    elements.append(button("Request more information", ids.CARD_REQUEST_INFO, value))
    elements.append(button("Assign to me", ids.CARD_ASSIGN, value))
    if _is_decided(card) and card.rating == "green" and card.caf_episode_id is None:
        # Early help via a CAF (MASH-to-CAF guidance): register one, or link an open one.
        elements.append(button("Route to a CAF", ids.CAF_ROUTE_CARD, value))
    elements.append(
        button(
            "Close",
            ids.CARD_CLOSE,
            value,
            style="danger",
            confirm=confirm_dialog(
                f"Close {card.reference}?",
                "The card is closed and its clocks stop. You will be asked for a reason.",
                "Close it",
                "Keep it open",
                danger=True,
            ),
        )
    )
    if card.due_at is not None and policy.snooze_options:
        options = [
            option(f"Snooze {duration_words(td)}", f"{card.id}:{int(td.total_seconds() // 60)}")
            for td in policy.snooze_options[:100]
        ]
        elements.append(
            {
                "type": "static_select",
                "action_id": ids.CARD_SNOOZE,
                "placeholder": plain("Snooze reminders", 150),
                "options": options,
            }
        )
    return actions(elements, block_id=f"card:{card.id}")


# --------------------------------------------------------------------------- consultation card


def consultation_card(
    c: Consultation, professional: Professional, policy: Policy, now: datetime
) -> dict:
    """The consultation card in the duty channel: who asked, what, the suggestion, the advice.

    Shows a "Give advice" button (value ``str(c.id)``) until the advice is given.
    """
    tz = policy.tz
    blocks: list[Block] = [header(f"Consultation {c.reference}")]

    answers, suggestion_notes = summary_parts(c.summary)
    repeat = int(c.repeat_count or 1)
    # The rules usually say it already, in a note; say it once.
    said = any("consultation about this situation" in n for n in suggestion_notes)
    if repeat >= 2 and not said:
        line = f":warning: *This is the {_ordinal(repeat)} consultation about this situation*"
        if repeat >= policy.flows.repeat_consultation_threshold:
            line += " — repeated worry is itself a signal: consider a referral."
        blocks.append(section_text(line))

    note = notes_block(suggestion_notes)
    if note is not None:
        blocks.append(note)

    who = ", ".join(
        part for part in (professional.name, professional.role, professional.agency) if part
    )
    asked_by = esc(who or "Unknown", 1000)
    if professional.user_id:
        asked_by += f" ({mention(professional.user_id)})"
    if professional.contact:
        asked_by += f"\n{esc(professional.contact, 300)}"
    consent = answers.get("consent") or answers.get("consent_status")
    pairs: list[tuple[str, str]] = [
        ("Asked by", asked_by),
        ("Asked", when_words(c.created_at, now, tz) if c.created_at else "—"),
        ("Age band", _age_band(policy, c.age_band)),
        ("Categories", _words(c.categories)),
        ("Consent", esc(CONSENT_LABELS.get(str(consent), _answer_text(consent)) or "—", 500)),
    ]
    if c.linked_reference:
        pairs.append(("Linked to earlier", esc(c.linked_reference, 100)))
    blocks.append(fields_section(pairs))

    blocks.extend(summary_blocks(c.summary, labels=answer_labels(policy)))

    suggested = (
        f"*Suggested:* {escape(outcome_label(c.suggested_outcome))} — "
        "_a suggestion from the answers, not a decision_"
    )
    if c.suggested_reasons:
        suggested += f"\n{reasons_text(c.suggested_reasons)}"
    blocks.extend(sections(suggested, max_sections=2))

    if c.advice_outcome or c.status == "advised":
        blocks.append(divider())
        advice = f"*Advice:* {escape(outcome_label(c.advice_outcome))}"
        advice += f" — by {mention(c.advisor_user_id, nobody='an advisor')}"
        if c.advised_at:
            advice += f" ({when_words(c.advised_at, now, tz)})"
        if c.advice_text:
            advice += f"\n{esc(c.advice_text, 2500)}"
        blocks.append(section_text(advice))
        if c.followed_advice is True:
            blocks.append(
                section_text(":white_check_mark: The professional is following this advice.")
            )
        elif c.followed_advice is False:
            why = esc(c.not_followed_reason or "no reason given", 2800)
            blocks.append(section_text(f":x: *The professional is doing something else:* {why}"))
        else:
            blocks.append(context("Waiting for the professional to say whether they follow it."))
    elif c.status == "closed":
        blocks.append(context("Closed without advice."))
    keep = 0
    if c.status == "open" and not c.advice_outcome:
        blocks.append(
            actions(
                [button("Give advice", ids.CONSULT_ADVISE, str(c.id), style="primary")],
                block_id=f"consult:{c.id}",
            )
        )
        keep = 1
    fallback = f"Consultation {c.reference}: suggested {outcome_label(c.suggested_outcome)}"
    if c.advice_outcome:
        fallback = f"Consultation {c.reference}: advice given"
    return {"text": clip(fallback, 300), "blocks": cap_blocks(blocks, 50, keep_last=keep)}


# What the professional answered to advice, in the words they read on the advice DM.
ADVICE_ANSWER_WORDS: dict[bool | None, str] = {
    True: "You said you are following this advice. Thank you.",
    False: "You said you are doing something else; your reason is recorded in the "
    "consultation log.",
}


def advice_dm(c: Consultation, policy: Policy, *, changing: bool = False) -> dict:
    """The advice, sent to the professional, with "follow / do something else" buttons
    until they answer; then their answer, with a "Change my answer" button that brings
    the two buttons back (``changing``)."""
    blocks: list[Block] = [
        section_text(f"*Advice on your consultation {escape(c.reference)}*"),
        section_text(f"*{escape(outcome_label(c.advice_outcome))}*"),
    ]
    if c.advice_text:
        blocks.extend(sections(esc(c.advice_text, 6000), max_sections=2))
    blocks.append(context(f"From {mention(c.advisor_user_id, nobody='the duty advisor')}"))
    phones = policy.phones
    next_step = {
        "urgent_referral": f"Call the front door now on {escape(phones.front_door)}. If a child is "
        f"in immediate danger, call {escape(phones.emergency)}.",
        "referral": "Make a referral: use /refer for the checklist, and add the child's "
        "identifying details only in the secure referral form, quoting "
        f"{escape(c.reference)}.",
        "early_help": "Talk to the family about an Early Help Assessment: it needs their consent."
        + (f" The early help team: {escape(phones.early_help)}." if phones.early_help else ""),
        "continue_caf": "Tell the CAF's lead professional about these worries, so that the family "
        "plan is strengthened; the next team around the family meeting may be brought forward.",
        "lado": "Contact the LADO (allegations against people who work with children) today.",
    }.get(c.advice_outcome or "")
    if next_step:
        blocks.append(section_text(next_step))
    answered = ADVICE_ANSWER_WORDS.get(c.followed_advice)
    if answered is None or changing:
        # "change": these buttons replace an answer already given, on purpose.
        value = str(c.id) if answered is None else f"{c.id}:change"
        if answered is not None:
            now_is = "following it" if c.followed_advice else "doing something else"
            blocks.append(context(f"Your answer stands until you choose again: {now_is}."))
        blocks.append(
            actions(
                [
                    button("I'll follow this advice", ids.ADVICE_FOLLOWED, value, style="primary"),
                    button("I'm doing something else", ids.ADVICE_NOT_FOLLOWED, value),
                ],
                block_id=f"advice:{c.id}",
            )
        )
    else:
        blocks.append(section_text(answered))
        blocks.append(actions([button("Change my answer", ids.ADVICE_CHANGE, str(c.id))],
                              block_id=f"advice:{c.id}"))
    return message(f"Advice on {c.reference}: {outcome_label(c.advice_outcome)}", blocks)


def outcome_dm(card: TriageCard, referral: Referral, policy: Policy) -> dict:
    """To the referrer after a manager's decision or closure: the rating (if any), what it
    means, what happens next, and the manager's reason for closing."""
    ref = escape(card.reference)
    closed = card.status == "closed"
    if card.rating is None and not closed:
        # Principle 2: the referrer hears nothing until a person has decided.
        return message(
            f"{card.reference}: no decision yet",
            [section_text(f"There is no decision on {ref} yet. You will hear here when there is.")],
        )
    rating = policy.ratings.get(card.rating or "")
    if closed:
        headline = f"*The front door has closed your referral {ref}*" + (
            "" if card.rating else " without a rating."
        )
    else:
        headline = f"*The front door has decided on your referral {ref}*"
    blocks: list[Block] = [section_text(headline)]
    if card.rating:
        blocks.append(
            section_text(
                f"*Rating:* {rating_badge(policy, card.rating)}"
                + (f"\n{escape(rating.meaning)}\n*Goes to:* {escape(rating.route)}"
                   if rating else "")
            )
        )
    if closed:
        # The manager's reason, as chosen and typed in the close modal (guarded there).
        why = esc(card.close_reason, 2800) if card.close_reason else "No reason was given."
        blocks.append(section_text(f"*Why it was closed:* {why}"))
        blocks.append(
            section_text(
                "If you are still worried about the child, make a new referral with /refer or "
                f"call the front door on {escape(policy.phones.front_door)}."
            )
        )
    else:
        nxt = NEXT_STEPS.get(_next_step_key(card, referral))
        if nxt:
            blocks.append(section_text(f"*What happens next*\n{escape(nxt)}"))
    if referral.phone_referral and not referral.written_confirmed_at:
        blocks.append(
            section_text(
                ":memo: Please confirm your phone referral in writing in the secure referral "
                f"form, quoting {ref}."
            )
        )
    blocks.append(
        context(
            f"If a child is in immediate danger, call {escape(policy.phones.emergency)}. "
            f"Front door: {escape(policy.phones.front_door)}."
        )
    )
    if closed:
        fallback = f"{card.reference}: closed" + (
            f" ({rating_name(policy, card.rating)})" if card.rating else " without a rating"
        )
    else:
        fallback = f"{card.reference}: {rating_name(policy, card.rating)}"
    return message(fallback, blocks)


def _next_step_key(card: TriageCard, referral: Referral) -> str | None:
    """The NEXT_STEPS key: the rating, except Green for a child with an open CAF."""
    answers, _ = summary_parts(referral.summary)
    open_caf = card.caf_episode_id is not None or answers.get("open_caf") == "yes"
    return "continue_caf" if card.rating == "green" and open_caf else card.rating


def info_request_dm(card: TriageCard, question: str) -> dict:
    """A manager's request for more information, sent to the referrer, with a Reply button."""
    ref = escape(card.reference)
    blocks: list[Block] = [
        section_text(f"*The front door needs more information about {ref}*"),
        *sections(f">{esc(question, 5000)}".replace("\n", "\n>"), max_sections=2),
        context(
            "Please answer without names, dates of birth, addresses or other details that "
            "could identify a child."
        ),
        actions(
            [button("Reply", ids.INFO_REPLY, str(card.id), style="primary")],
            block_id=f"info:{card.id}",
        ),
    ]
    return message(f"More information needed about {card.reference}", blocks)


def thread_note(text: str, *, notify: tuple[str, ...] = (), groups: tuple[str, ...] = (),
                by: str = "") -> dict:
    """A note in a card's thread: ``text`` escaped (it may be typed by a person), after a
    mention of ``by`` (who did it), then mentions of the ``notify`` user IDs and ``groups``
    user-group IDs, which Slack notifies."""
    tags = " ".join([mention(u) for u in notify] + [_group_mention(g) for g in groups])
    body = esc(text, 50 * SECTION_LIMIT)
    if by:
        body = f"{mention(by)} {body}"
    return message("Note on the card",
                   sections(f"{tags} {body}" if tags else body, max_sections=10))


def _group_mention(group_id: str) -> str:
    """``<!subteam^S…>`` for a user-group ID from the policy; anything else escaped."""
    return f"<!subteam^{group_id}>" if re.fullmatch(r"S[A-Z0-9]{2,}", group_id) else esc(group_id)
