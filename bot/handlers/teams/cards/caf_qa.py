"""A CAF manager's quality assurance in Teams: the QA card, its answer, the chats. Pure
functions of the request and the episode as queued, with Slack's words (``bot.flows.caf.qa``):
the twin of ``bot/handlers/slack/blocks/caf_qa.py``. The reasons a manager gave are typed
text (never parsed as markdown); *Return with reasons* opens the reasons in the card.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot import intents, wording
from bot.flows.caf import qa as domain
from bot.handlers.teams.cards import ac, verbs
from bot.handlers.teams.cards.caf import _message, people, ref
from bot.policy import Policy
from store.models import CafEpisode, CafQa


def _header(qa: CafQa, ep: CafEpisode) -> str:
    if qa.kind == domain.CLOSURE:
        return f"🔎 **{ref(ep)}: closing with no further action needs a CAF manager's agreement**"
    return f"🔎 **{ref(ep)}: quality assurance of the CAF assessment**"


def _source(qa: CafQa) -> str:
    return f"Source: {domain.SOURCES[qa.kind]}."


def qa_card(qa: CafQa, ep: CafEpisode, policy: Policy, due: datetime | None,
            m: ac.Mentions) -> dict[str, Any]:
    """The QA card: the checks, Agree and Return with reasons; once answered, the answer."""
    again = f" again (round {qa.round}: returned before)" if qa.round > 1 else ""
    if qa.kind == domain.CLOSURE:
        asked = f"{m.person(qa.requested_by)} asks to close it with no further action{again}."
    else:
        asked = f"The assessment was marked complete{again} by {m.person(qa.requested_by)}."
    body = [ac.text(_header(qa, ep)),
            ac.text(f"{asked} A CAF manager checks that:\n\n" + ac.bullets(domain.checks(qa.kind)))]
    data = {verbs.QA: qa.id}
    if qa.status == domain.AWAITING:
        body.append(ac.text(domain.what_agreeing_does(qa, policy)))
        when = f" · Quality assurance due by {wording.day(due.date())}" if due else ""
        body.append(ac.text(f"{people(ep, m)}{when} · {_source(qa)}", subtle=True))
        agree = "Agree the closure" if qa.kind == domain.CLOSURE else "Agree the plan"
        reasons = {"type": "Input.Text", "id": verbs.IN_TEXT, "isMultiline": True,
                   "maxLength": 1500, "label": "What needs to change?", "isRequired": True,
                   "errorMessage": "Say what needs to change."}
        actions = [ac.execute(agree, verbs.CAF_QA_AGREE, data, style="positive"),
                   ac.show("Return with reasons",
                           [ac.text(wording.CAF_NO_NAMES, subtle=True), reasons],
                           [ac.execute("Return it", verbs.CAF_QA_RETURN, data, inputs=True)])]
        return _message(body, f"{ep.ehm_reference}: CAF quality assurance", m, actions)
    on = wording.day(qa.decided_at.astimezone(policy.tz).date()) if qa.decided_at else ""
    if qa.status == domain.AGREED:
        body.append(ac.text(f"✅ **Agreed by {m.person(qa.decided_by)} on {on}**: "
                            f"{domain.agreed_words(qa, ep)}"))
    else:
        body.append(ac.text(f"↩️ **Returned by {m.person(qa.decided_by)} on {on}**: "
                            f"{domain.returned_words(qa)}"))
        body.append(ac.quote(qa.reasons or ""))
    body.append(ac.text(f"{people(ep, m)} · {_source(qa)}", subtle=True))
    return _message(body, f"{ep.ehm_reference}: CAF quality assurance {qa.status}", m)


def agreed(qa: CafQa, ep: CafEpisode, policy: Policy, m: ac.Mentions) -> dict[str, Any]:
    """To the lead professional and the co-ordinator: the plan is agreed."""
    body = [ac.text(f"✅ **{ref(ep)}: the plan is agreed** by {m.person(qa.decided_by)} "
                    "(quality assurance of the CAF assessment)."),
            ac.text(wording.caf_due_line(ep, policy, lambda s: f"**{s}**")),
            ac.text(f"{people(ep, m)} · {_source(qa)}", subtle=True)]
    return _message(body, f"{ep.ehm_reference}: plan agreed", m)


def returned(qa: CafQa, ep: CafEpisode, m: ac.Mentions) -> dict[str, Any]:
    """To the lead professional, the co-ordinator (and whoever asked): returned, and why."""
    if qa.kind == domain.CLOSURE:
        body = [ac.text(f"↩️ **{ref(ep)}: closing with no further action was not agreed** by "
                        f"{m.person(qa.decided_by)}:"),
                ac.quote(qa.reasons or ""),
                ac.text(domain.CLOSURE_RETURNED_NEXT),
                ac.text(f"{people(ep, m)} · {_source(qa)}", subtle=True)]
        return _message(body, f"{ep.ehm_reference}: closure not agreed", m)
    body = [ac.text(f"↩️ **{ref(ep)}: the CAF assessment was returned** by "
                    f"{m.person(qa.decided_by)} (quality assurance):"),
            ac.quote(qa.reasons or ""),
            ac.text(domain.PLAN_RETURNED_NEXT),
            ac.text(f"{people(ep, m)} · {_source(qa)}", subtle=True)]
    return _message(body, f"{ep.ehm_reference}: CAF assessment returned", m,
                    [ac.execute("Marked complete again: send for QA", verbs.CAF_QA_RESUBMIT,
                                {verbs.QA: qa.id}, style="positive")])


def due_post(qa: CafQa, ep: CafEpisode, due: datetime, policy: Policy,
             m: ac.Mentions) -> dict[str, Any]:
    """In the CAF team's channel: a request not answered within the policy's time."""
    asked = wording.day(qa.requested_at.astimezone(policy.tz).date())
    body = [ac.text(f"⌛ **{ref(ep)} has waited for a CAF manager's quality assurance since "
                    f"{asked}** (due by {wording.day(due.date())}). Agree it or return it with "
                    "reasons on its card."),
            ac.text(f"{people(ep, m)} · {_source(qa)}", subtle=True)]
    return _message(body, f"{ep.ehm_reference}: CAF quality assurance overdue", m)


def draw(intent: str, d: dict[str, Any], policy: Policy, m: ac.Mentions) -> dict[str, Any]:
    """A QA intent's activity (the renderer's dispatch)."""
    qa: CafQa = intents.restore(CafQa, d["qa"])
    ep: CafEpisode = intents.restore(CafEpisode, d["episode"])
    due = datetime.fromisoformat(d["due"]).astimezone(policy.tz) if d.get("due") else None
    if intent in (intents.CAF_QA_CARD, intents.CAF_QA_CARD_DONE):
        return qa_card(qa, ep, policy, due, m)
    if intent == intents.CAF_QA_AGREED:
        return agreed(qa, ep, policy, m)
    if intent == intents.CAF_QA_RETURNED:
        return returned(qa, ep, m)
    assert due is not None
    return due_post(qa, ep, due, policy, m)
