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

from bot import wording
from bot.flows.guided.scripts import answer_labels
from bot.flows.triage.scheduled import ClockState, card_clocks, clock_label
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
    duration_words,
    esc,
    escape,
    fields_section,
    header,
    humanize,
    live_date,
    mention,
    message,
    option,
    plain,
    section_text,
    sections,
)
from bot.labels import ADVICE_OUTCOMES as ADVICE_OUTCOMES  # re-exported for the blocks
from bot.labels import OUTCOME_LABELS as OUTCOME_LABELS
from bot.labels import outcome_label as outcome_label
from bot.labels import rating_name as rating_name
from bot.policy import Policy
from bot.wording import ADVICE_ANSWER_WORDS as ADVICE_ANSWER_WORDS
from bot.wording import CONSENT_LABELS as CONSENT_LABELS
from bot.wording import NEXT_STEPS as NEXT_STEPS
from bot.wording import SUMMARY_LABELS as SUMMARY_LABELS
from bot.wording import SUMMARY_SKIP as SUMMARY_SKIP
from bot.wording import answer_text
from bot.wording import summary_parts as summary_parts
from store.models import Consultation, Decision, Professional, Referral, TriageCard

_MAX_SUMMARY_SECTIONS = 14


# --------------------------------------------------------------------------- small helpers


def rating_badge(policy: Policy, key: str | None) -> str:
    """Emoji plus label, escaped for ``mrkdwn`` (":red_circle: Red")."""
    rating = policy.ratings.get(key) if key else None
    name = escape(rating_name(policy, key))
    return f"{rating.emoji} {name}" if rating is not None and rating.emoji else name


def _words(values: Sequence[Any] | None) -> str:
    """Categories in their census words ("Housing / financial"), never their keys."""
    return escape(wording.category_words(values))


def _age_band(policy: Policy, key: str | None) -> str:
    """An age band as the professional chose it ("Unborn", "5–10"), escaped."""
    return esc(wording.age_band_words(policy, key), 200)


def summary_blocks(
    summary: Mapping[str, Any] | None,
    *,
    skip: Sequence[str] = (),
    labels: Mapping[str, Mapping[str, str]] | None = None,
) -> list[Block]:
    """One section per answered summary question, known questions first; missing keys skipped.

    ``labels`` (from :func:`bot.flows.guided.scripts.answer_labels`) turns a stored option value
    into the words the professional chose ("dont_know" -> "Don't know").
    """
    blocks: list[Block] = []
    for shown, (question, value) in enumerate(wording.summary_items(summary, skip=skip,
                                                                   labels=labels)):
        if shown == _MAX_SUMMARY_SECTIONS:
            blocks.append(context("… more answers not shown"))
            break
        label = clip(escape(question), 200)
        # Clip rather than split: a card stays scannable; the full answer is in the store.
        blocks.append(section_text(f"*{label}*\n{esc(value, SECTION_LIMIT - len(label) - 4)}"))
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
    return escape(wording.consent_words(status))


_is_decided = wording.is_decided


# --------------------------------------------------------------------------- triage card


def triage_card(
    card: TriageCard,
    referral: Referral,
    policy: Policy,
    now: datetime,
    last: Decision | None = None,
    clocks: Sequence[ClockState] | None = None,
) -> dict:
    """The triage card in a manager channel: suggestion or decision, summary, clock, buttons.

    ``last`` is the card's newest Decision: a changed rating shows what it was changed
    from and the manager's reason. ``clocks``: the card's clocks as its reminder rows say
    (``bot.flows.triage.scheduled.read_card_clocks``); without them, what the card row says. Every
    time is absolute and shown in the reader's time zone, so a card left on screen stays
    true (``now`` is not read). Buttons carry ``str(card.id)``; a decided card has no
    Approve button and a closed card has no buttons at all.
    """
    tz = policy.tz
    states = list(card_clocks(card, []) if clocks is None else clocks)
    running = next((c for c in states if c.met_at is None), None)

    def at(dt: datetime) -> str:
        return live_date(dt, tz)
    ref = card.reference
    decided = _is_decided(card)
    closed = card.status == "closed"
    key = wording.card_rating(card)
    blocks: list[Block] = [header(wording.card_title(card, policy))]

    if card.breached and not closed:
        words = running.words(at) if running is not None else "deadline passed"
        blocks.append(
            section_text(
                f":rotating_light: *SLA BREACHED* — {escape(clock_label(card.clock))}: {words}"
            )
        )

    # The rating: a suggestion until a manager's click makes it a decision.
    if decided:
        changed, was = wording.rating_change(card, last)
        verb = f"changed from {escape(rating_name(policy, was))}" if was else "approved"
        line = f"*Rating:* {rating_badge(policy, key)} — {verb} by {mention(card.decided_by)}"
        if card.decided_at:
            line += f" ({at(card.decided_at)})"
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
            closed_line += f" {at(card.closed_at)}"
        if card.close_reason:
            closed_line += f" — {esc(card.close_reason, 2500)}"
        blocks.append(section_text(closed_line))

    # Our own words and Slack's date markup: nothing typed to escape.
    due = "\n".join(wording.clock_lines(states, closed=closed, at=at))
    pairs: list[tuple[str, str]] = [
        ("Kind", wording.referral_kind_words(referral.kind)),
        ("Age band", _age_band(policy, referral.age_band)),
        ("Categories", _words(referral.categories)),
        ("Consent", _consent(referral.consent_status)),
        ("Completeness", f"{int(referral.completeness or 0)}%"),
        ("Clock", due),
        ("Assigned to", mention(card.assignee_user_id, nobody="Nobody yet")),
        ("Received", at(card.received_at) if card.received_at else "—"),
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
                f"Phone referral, confirmed in writing {at(referral.written_confirmed_at)}"
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

    return {"text": clip(wording.card_said(card, policy), 300),
            "blocks": cap_blocks(blocks, 50, keep_last=keep)}


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
                wording.CARD_CLOSE_CONFIRM,
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
        nth = wording.ordinal(repeat)
        line = f":warning: *This is the {nth} consultation about this situation*"
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
        ("Asked", live_date(c.created_at, tz) if c.created_at else "—"),
        ("Age band", _age_band(policy, c.age_band)),
        ("Categories", _words(c.categories)),
        ("Consent", esc(CONSENT_LABELS.get(str(consent), answer_text(consent)) or "—", 500)),
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
            advice += f" ({live_date(c.advised_at, tz)})"
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
            blocks.append(context(wording.ADVICE_WAITING))
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
    return {"text": clip(wording.consultation_said(c), 300),
            "blocks": cap_blocks(blocks, 50, keep_last=keep)}


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
    next_step = wording.advice_next_step(c.advice_outcome, policy, c.reference)
    if next_step:
        blocks.append(section_text(escape(next_step)))
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
        nxt = NEXT_STEPS.get(
            wording.next_step_key(card.rating, referral.summary, card.caf_episode_id))
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
    return message(wording.outcome_said(card, policy), blocks)


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
