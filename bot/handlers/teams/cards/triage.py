"""Triage and consultation cards in Teams channels, and the chats that follow from them.

Pure functions of state, as Slack's ``blocks/cards.py``, with the same words
(``bot.wording``, ``bot.labels``). Actions are Action.Execute (verb + data) so the bot can
redraw the card in place; due times are absolute (``{{DATE()}} {{TIME()}}``), so a card
left on screen stays true. Nothing identifies a child: a card carries a reference; the
people named are staff and the professional asking.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot import wording
from bot.flows.guided.scripts import answer_labels
from bot.flows.triage.scheduled import ClockState, card_clocks, clock_label
from bot.handlers.teams.cards import ac, verbs
from bot.labels import duration_words, humanize, outcome_label, rating_name
from bot.policy import Policy
from store.models import Consultation, Decision, Professional, Referral, TriageCard

_MAX_SUMMARY = 14


def badge(policy: Policy, key: str | None) -> str:
    """Emoji and label: "🔴 Red"."""
    rating = policy.ratings.get(key) if key else None
    mark = ac.emoji(rating.emoji) if rating is not None else ""
    return f"{mark} {rating_name(policy, key)}".strip()


def summary(items: Mapping[str, Any] | None, policy: Policy) -> list[ac.Element]:
    """One question (ours) and its answer (typed: never parsed) per answered question."""
    body: list[ac.Element] = []
    for shown, (question, value) in enumerate(
            wording.summary_items(items, labels=answer_labels(policy))):
        if shown == _MAX_SUMMARY:
            body.append(ac.text("… more answers not shown", subtle=True))
            break
        body.append(ac.text(f"**{ac.clip(question, 200)}**"))
        body.append(ac.typed(value))
    return body


def _notes(notes: Sequence[str]) -> list[ac.Element]:
    return [ac.text(f"⚠️ **{ac.clip(n, 1000)}**") for n in notes[:5]]


def _reasons(reasons: Sequence[Any]) -> list[ac.Element]:
    out: list[ac.Element] = []
    for r in list(reasons)[:10]:
        get = r.get if isinstance(r, Mapping) else lambda k, _r=r: getattr(_r, k, "")
        out.append(ac.text(f"- {ac.clip(str(get('text') or ''), 1000)}"))
        if get("source"):
            out.append(ac.text(f"_Source: {ac.clip(str(get('source')), 500)}_", subtle=True))
    return out


def triage_card(card: TriageCard, referral: Referral, policy: Policy, now: datetime,
                last: Decision | None, m: ac.Mentions,
                clocks: Sequence[ClockState] | None = None) -> dict[str, Any]:
    """The triage card in a manager channel: suggestion or decision, clock, summary and
    the actions (approve, written referral, change rating, request information, assign,
    route to a CAF, close, snooze); a closed card has none. ``clocks``: as Slack's card
    takes them (the state as of the last sweep, in words that stay true)."""
    states = list(card_clocks(card, []) if clocks is None else clocks)
    running = next((c for c in states if c.met_at is None), None)
    ref, decided, closed = card.reference, wording.is_decided(card), card.status == "closed"
    key = wording.card_rating(card)
    body: list[ac.Element] = [ac.heading(wording.card_title(card, policy))]
    if card.breached and not closed:
        words = running.words(ac.at) if running is not None else "deadline passed"
        body.append(ac.attention([ac.text(
            f"🚨 **SLA BREACHED** — {clock_label(card.clock)}: {words}", color="Attention")]))

    if decided:
        changed, was = wording.rating_change(card, last)
        verb = f"changed from {rating_name(policy, was)}" if was else "approved"
        line = f"**Rating:** {badge(policy, key)} — {verb} by {m.person(card.decided_by)}"
        if card.decided_at:
            line += f" ({ac.at(card.decided_at)})"
        body.append(ac.text(line))
        if changed is not None and changed.reason:
            body.append(ac.typed(changed.reason, prefix="Why: "))
    else:
        body.append(ac.text(f"**Suggested:** {badge(policy, key)} — _{wording.NOT_A_DECISION}_"))
    rating = policy.ratings.get(key or "")
    if rating is not None:
        body.append(ac.text(f"{rating.meaning}\n\n_Goes to:_ {rating.route}"))
    _, suggestion_notes = wording.summary_parts(referral.summary)
    body.extend(_notes(suggestion_notes))

    if closed:
        line = "🔒 **Closed**" + (f" {ac.at(card.closed_at)}" if card.closed_at else "")
        body.append(ac.text(line))
        if card.close_reason:
            body.append(ac.typed(card.close_reason, prefix="Why: "))

    clock = "\n\n".join(wording.clock_lines(states, closed=closed, at=ac.at))
    pairs = [
        ("Kind", wording.referral_kind_words(referral.kind)),
        ("Age band", wording.age_band_words(policy, referral.age_band)),
        ("Categories", wording.category_words(referral.categories)),
        ("Consent", wording.consent_words(referral.consent_status)),
        ("Completeness", f"{int(referral.completeness or 0)}%"),
    ]
    if card.info_requested:
        pairs.append(("More information", "💬 Requested from the referrer"))
    body.append(ac.facts(pairs))
    body.append(ac.text(
        f"**Clock:** {clock}\n\n"
        f"**Assigned to:** {m.person(card.assignee_user_id, nobody='Nobody yet')}\n\n"
        f"**Received:** {ac.at(card.received_at) if card.received_at else '—'}\n\n"
        f"**Referred by:** {m.person(card.referrer_user_id, nobody='Unknown')}"))

    if card.suggested_reasons:
        body.append(ac.text(f"**Why {rating_name(policy, card.suggested_rating)} was "
                            "suggested**", separator=True))
        body.extend(_reasons(card.suggested_reasons))
    body.extend(summary(referral.summary, policy))
    if referral.consent_reason:
        body.append(ac.typed(referral.consent_reason,
                             prefix=f"Consent: {wording.consent_words(referral.consent_status)}"
                                    " — "))
    if referral.gaps:
        body.append(ac.text(
            f"**Gaps in the referral** (completeness {int(referral.completeness or 0)}%)\n\n"
            + ac.bullets(humanize(str(g)) for g in referral.gaps)))

    notes: list[str] = []
    if referral.suspended_type:
        st = {t.id: t.label for t in policy.suspended_types}
        notes.append("Suspended referral type: "
                     + st.get(referral.suspended_type, humanize(referral.suspended_type)))
    if referral.phone_referral:
        notes.append("Phone referral, confirmed in writing "
                     f"{ac.at(referral.written_confirmed_at)}"
                     if referral.written_confirmed_at
                     else "Phone referral: written confirmation awaited")
    if card.caf_episode_id:
        notes.append("Linked to an open CAF episode")
    notes.append(f"Reference {ref}: match it in the case system")
    body.append(ac.text(" · ".join(notes), subtle=True))

    actions = [] if closed else _card_actions(card, policy, referral)
    fallback = wording.card_said(card, policy)
    return ac.card_activity(ac.card(body, actions, fallback=fallback, mentions=m), fallback)


def _card_actions(card: TriageCard, policy: Policy, referral: Referral) -> list[ac.Element]:
    data = {verbs.CARD: card.id, verbs.VERSION: card.version}
    out: list[ac.Element] = []
    if not wording.is_decided(card):
        out.append(ac.execute("Approve rating", verbs.CARD_APPROVE, data, style="positive"))
    if referral.phone_referral and not referral.written_confirmed_at:
        out.append(ac.execute("Written referral received", verbs.CARD_WRITTEN, data))
    out.append(ac.dialog("Change rating", verbs.CARD_CHANGE, data))
    out.append(ac.dialog("Request more information", verbs.CARD_REQUEST_INFO, data))
    out.append(ac.execute("Assign to me", verbs.CARD_ASSIGN, data))
    if wording.is_decided(card) and card.rating == "green" and card.caf_episode_id is None:
        out.append(ac.dialog("Route to a CAF", verbs.CAF_ROUTE_CARD, data))
    out.append(ac.dialog("Close", verbs.CARD_CLOSE, data))  # the dialog asks why
    if card.due_at is not None and policy.snooze_options:
        options = [(str(int(td.total_seconds() // 60)), f"Snooze {duration_words(td)}")
                   for td in policy.snooze_options[:100]]
        out.append(ac.show("Snooze reminders", [
            ac.choices(verbs.IN_SNOOZE, options, value=options[0][0], required=True,
                       label="Snooze reminders")],
            [ac.execute("Snooze", verbs.CARD_SNOOZE, data, inputs=True)]))
    return out


def consultation_card(c: Consultation, professional: Professional, policy: Policy,
                      m: ac.Mentions) -> dict[str, Any]:
    """The consultation card in the duty channel: who asked, what, the suggestion, the
    advice; "Give advice" until it is given."""
    body: list[ac.Element] = [ac.heading(f"Consultation {c.reference}")]
    answers, suggestion_notes = wording.summary_parts(c.summary)
    repeat = int(c.repeat_count or 1)
    said = any("consultation about this situation" in n for n in suggestion_notes)
    if repeat >= 2 and not said:
        line = f"⚠️ **This is the {wording.ordinal(repeat)} consultation about this situation**"
        if repeat >= policy.flows.repeat_consultation_threshold:
            line += " — repeated worry is itself a signal: consider a referral."
        body.append(ac.text(line))
    body.extend(_notes(suggestion_notes))

    who = ", ".join(p for p in (professional.name, professional.role, professional.agency) if p)
    asker = professional.user_id  # the asker's platform id (a column renamed in 0005)
    body.append(ac.typed(who or "Unknown", 1000, prefix="Asked by: "))
    if asker:
        body.append(ac.text(m.person(asker), subtle=True))
    if professional.contact:
        body.append(ac.typed(professional.contact, 300))
    consent = answers.get("consent") or answers.get("consent_status")
    pairs = [
        ("Age band", wording.age_band_words(policy, c.age_band)),
        ("Categories", wording.category_words(c.categories)),
        ("Consent", wording.CONSENT_LABELS.get(str(consent), wording.answer_text(consent))
         or "—"),
    ]
    if c.linked_reference:
        pairs.append(("Linked to earlier", c.linked_reference))
    body.append(ac.facts(pairs))
    body.append(ac.text(f"**Asked:** {ac.at(c.created_at) if c.created_at else '—'}"))
    body.extend(summary(c.summary, policy))
    body.append(ac.text(f"**Suggested:** {outcome_label(c.suggested_outcome)} — "
                        f"_{wording.NOT_A_DECISION}_", separator=True))
    body.extend(_reasons(c.suggested_reasons or ()))

    if c.advice_outcome or c.status == "advised":
        line = (f"**Advice:** {outcome_label(c.advice_outcome)} — by "
                f"{m.person(c.advisor_user_id, nobody='an advisor')}")
        if c.advised_at:
            line += f" ({ac.at(c.advised_at)})"
        body.append(ac.text(line, separator=True))
        if c.advice_text:
            body.append(ac.typed(c.advice_text, 2500))
        if c.followed_advice is True:
            body.append(ac.text("✅ The professional is following this advice."))
        elif c.followed_advice is False:
            body.append(ac.typed(c.not_followed_reason or "no reason given", 2800,
                                 prefix="❌ The professional is doing something else: "))
        else:
            body.append(ac.text(wording.ADVICE_WAITING,
                                subtle=True))
    elif c.status == "closed":
        body.append(ac.text("Closed without advice.", subtle=True))
    actions = []
    if c.status == "open" and not c.advice_outcome:
        actions.append(ac.dialog("Give advice", verbs.CONSULT_ADVISE,
                                 {verbs.CONSULTATION: c.id}, style="positive"))
    fallback = wording.consultation_said(c)
    return ac.card_activity(ac.card(body, actions, fallback=fallback, mentions=m), fallback)


def advice(c: Consultation, policy: Policy, m: ac.Mentions, *,
           changing: bool = False) -> dict[str, Any]:
    """The advice, to the professional, with "follow / do something else" until they
    answer; then their answer and "Change my answer" (which brings the two back)."""
    body: list[ac.Element] = [
        ac.text(f"**Advice on your consultation {c.reference}**"),
        ac.text(f"**{outcome_label(c.advice_outcome)}**"),
    ]
    if c.advice_text:
        body.append(ac.typed(c.advice_text, 6000))
    body.append(ac.text(f"From {m.person(c.advisor_user_id, nobody='the duty advisor')}",
                        subtle=True))
    step = wording.advice_next_step(c.advice_outcome, policy, c.reference)
    if step:
        body.append(ac.text(step))
    answered = wording.ADVICE_ANSWER_WORDS.get(c.followed_advice)
    data = {verbs.CONSULTATION: c.id}
    if answered is None or changing:
        if answered is not None:
            now_is = "following it" if c.followed_advice else "doing something else"
            body.append(ac.text(f"Your answer stands until you choose again: {now_is}.",
                                subtle=True))
            data = {**data, "change": True}
        actions = [ac.execute("I'll follow this advice", verbs.ADVICE_FOLLOWED, data,
                              style="positive"),
                   ac.dialog("I'm doing something else", verbs.ADVICE_NOT_FOLLOWED, data)]
    else:
        body.append(ac.text(answered))
        actions = [ac.execute("Change my answer", verbs.ADVICE_CHANGE, data)]
    said = f"Advice on {c.reference}: {outcome_label(c.advice_outcome)}"
    return ac.card_activity(ac.card(body, actions, fallback=said, mentions=m), said)


def outcome(card: TriageCard, referral: Referral, policy: Policy) -> dict[str, Any]:
    """To the referrer after a decision or closure: the rating, what it means, what
    happens next, and the manager's reason for closing."""
    ref, closed = card.reference, card.status == "closed"
    if card.rating is None and not closed:
        said = f"There is no decision on {ref} yet. You will hear here when there is."
        return ac.text_activity(said, plain=True)
    rating = policy.ratings.get(card.rating or "")
    if closed:
        head = f"**The front door has closed your referral {ref}**" + (
            "" if card.rating else " without a rating.")
    else:
        head = f"**The front door has decided on your referral {ref}**"
    body: list[ac.Element] = [ac.text(head)]
    if card.rating:
        line = f"**Rating:** {badge(policy, card.rating)}"
        if rating:
            line += f"\n\n{rating.meaning}\n\n**Goes to:** {rating.route}"
        body.append(ac.text(line))
    if closed:
        if card.close_reason:
            body.append(ac.typed(card.close_reason, 2800, prefix="Why it was closed: "))
        else:
            body.append(ac.text("**Why it was closed:** No reason was given."))
        body.append(ac.text("If you are still worried about the child, make a new referral "
                            f"with /refer or call the front door on {policy.phones.front_door}."))
    else:
        nxt = wording.NEXT_STEPS.get(
            wording.next_step_key(card.rating, referral.summary, card.caf_episode_id) or "")
        if nxt:
            body.append(ac.text(f"**What happens next**\n\n{nxt}"))
    if referral.phone_referral and not referral.written_confirmed_at:
        body.append(ac.text("📝 Please confirm your phone referral in writing in the secure "
                            f"referral form, quoting {ref}."))
    body.append(ac.text(f"If a child is in immediate danger, call {policy.phones.emergency}. "
                        f"Front door: {policy.phones.front_door}.", subtle=True))
    said = wording.outcome_said(card, policy)
    return ac.card_activity(ac.card(body, fallback=said), said)


def info_request(card: TriageCard, question: str) -> dict[str, Any]:
    """A manager's request for more information, to the referrer, with a Reply button."""
    body = [ac.text(f"**The front door needs more information about {card.reference}**"),
            ac.quote(question, 5000),
            ac.text(wording.INFO_NO_NAMES, subtle=True)]
    actions = [ac.dialog("Reply", verbs.INFO_REPLY, {verbs.CARD: card.id}, style="positive")]
    said = f"More information needed about {card.reference}"
    return ac.card_activity(ac.card(body, actions, fallback=said), said)


def note(text: str, m: ac.Mentions, *, notify: Sequence[str] = (), groups: Sequence[str] = (),
         by: str = "") -> dict[str, Any]:
    """A note in a card's thread: mentions (which Teams notifies), who did it, then the
    words, which are plain (they may be typed by a person): a plain message nothing parses
    would drop the mentions, so the words go in a card of their own under the mentions."""
    tags = [m.person(u) for u in notify] + [m.group(g) for g in groups]
    head = " ".join(tags + ([m.person(by)] if by else []))
    body: list[ac.Element] = []
    if head:
        body.append(ac.text(head))
    body.append(ac.typed(text, 12000))
    return ac.card_activity(ac.card(body, fallback="Note on the card", mentions=m),
                            "Note on the card")
