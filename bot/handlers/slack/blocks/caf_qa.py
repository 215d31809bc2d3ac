"""A CAF manager's quality assurance in Slack: the QA card, its answer, the DMs, the modal.

Pure functions of the request (``CafQa``) and the episode as they were queued. The card
lists the checks of the Barnet model (``bot.flows.caf.qa``) in its words; the CAF is its EHM
reference only; the reasons a manager gives passed the no-names guard and are quoted as
typed (escaped).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot import intents, wording
from bot.flows.caf import qa as domain
from bot.handlers.slack.blocks import ids
from bot.handlers.slack.blocks.caf import _view, people, ref
from bot.handlers.slack.blocks.text import (
    Block,
    actions,
    bullets,
    button,
    context,
    esc,
    escape,
    mention,
    message,
    section_text,
    sections,
)
from bot.policy import Policy
from store.models import CafEpisode, CafQa


def _header(qa: CafQa, ep: CafEpisode) -> str:
    if qa.kind == domain.CLOSURE:
        return f":mag: *{ref(ep)}: closing with no further action needs a CAF manager's agreement*"
    return f":mag: *{ref(ep)}: quality assurance of the CAF assessment*"


def _quoted(text: str | None) -> list[Block]:
    return sections(f">{esc(text or '', 2000)}".replace("\n", "\n>"), max_sections=1)


def _source(qa: CafQa) -> str:
    return f"Source: {domain.SOURCES[qa.kind]}."


def qa_card(qa: CafQa, ep: CafEpisode, policy: Policy, due: datetime | None = None) -> dict:
    """The QA card in the CAF team's channel: the checks, and Agree / Return with reasons;
    once answered (``qa.status``), the answer instead of the buttons."""
    blocks: list[Block] = [section_text(_header(qa, ep))]
    again = f" again (round {qa.round}: returned before)" if qa.round > 1 else ""
    if qa.kind == domain.CLOSURE:
        asked = f"{mention(qa.requested_by)} asks to close it with no further action{again}."
    else:
        asked = f"The assessment was marked complete{again} by {mention(qa.requested_by)}."
    blocks.append(section_text(f"{asked} A CAF manager checks that:\n"
                               + bullets(domain.checks(qa.kind))))
    if qa.status == domain.AWAITING:
        blocks.append(section_text(domain.what_agreeing_does(qa, policy)))
        when = f"Quality assurance due by {wording.day(due.date())}" if due else ""
        blocks.append(context(people(ep), *([when] if when else []), _source(qa)))
        agree = "Agree the closure" if qa.kind == domain.CLOSURE else "Agree the plan"
        blocks.append(actions([
            button(agree, ids.CAF_QA_AGREE, str(qa.id), style="primary"),
            button("Return with reasons", ids.CAF_QA_RETURN, str(qa.id)),
        ], block_id=f"caf_qa:{qa.id}"))
        return message(f"{escape(ep.ehm_reference)}: CAF quality assurance", blocks)
    on = wording.day(qa.decided_at.astimezone(policy.tz).date()) if qa.decided_at else ""
    if qa.status == domain.AGREED:
        blocks.append(section_text(f":white_check_mark: *Agreed by {mention(qa.decided_by)} on "
                                   f"{on}*: {domain.agreed_words(qa, ep)}"))
    else:
        blocks.append(section_text(f":leftwards_arrow_with_hook: *Returned by "
                                   f"{mention(qa.decided_by)} on {on}*: "
                                   f"{domain.returned_words(qa)}"))
        blocks += _quoted(qa.reasons)
    blocks.append(context(people(ep), _source(qa)))
    return message(f"{escape(ep.ehm_reference)}: CAF quality assurance {qa.status}", blocks)


def agreed_dm(qa: CafQa, ep: CafEpisode, policy: Policy) -> dict:
    """To the lead professional and the co-ordinator: the plan is agreed."""
    blocks: list[Block] = [
        section_text(f":white_check_mark: *{ref(ep)}: the plan is agreed* by "
                     f"{mention(qa.decided_by)} (quality assurance of the CAF assessment)."),
        section_text(wording.caf_due_line(ep, policy, lambda s: f"*{s}*")),
        context(people(ep), _source(qa)),
    ]
    return message(f"{escape(ep.ehm_reference)}: plan agreed", blocks)


def returned_dm(qa: CafQa, ep: CafEpisode) -> dict:
    """To the lead professional, the co-ordinator (and whoever asked): returned, and why."""
    if qa.kind == domain.CLOSURE:
        blocks: list[Block] = [
            section_text(f":leftwards_arrow_with_hook: *{ref(ep)}: closing with no further "
                         f"action was not agreed* by {mention(qa.decided_by)}:"),
            *_quoted(qa.reasons),
            section_text(domain.CLOSURE_RETURNED_NEXT),
            context(people(ep), _source(qa)),
        ]
        return message(f"{escape(ep.ehm_reference)}: closure not agreed", blocks)
    blocks = [
        section_text(f":leftwards_arrow_with_hook: *{ref(ep)}: the CAF assessment was returned* "
                     f"by {mention(qa.decided_by)} (quality assurance):"),
        *_quoted(qa.reasons),
        section_text(domain.PLAN_RETURNED_NEXT),
        context(people(ep), _source(qa)),
        actions([button("Marked complete again: send for QA", ids.CAF_QA_RESUBMIT, str(qa.id),
                         style="primary")], block_id=f"caf_qa:{qa.id}:again"),
    ]
    return message(f"{escape(ep.ehm_reference)}: CAF assessment returned", blocks)


def due_post(qa: CafQa, ep: CafEpisode, due: datetime, policy: Policy) -> dict:
    """In the CAF team's channel: a request not answered within the policy's time."""
    asked = wording.day(qa.requested_at.astimezone(policy.tz).date())
    return message(f"{escape(ep.ehm_reference)}: CAF quality assurance overdue", [
        section_text(f":hourglass: *{ref(ep)} has waited for a CAF manager's quality "
                     f"assurance since {asked}* (due by {wording.day(due.date())}). "
                     "Agree it or return it with reasons on its card."),
        context(people(ep), _source(qa)),
    ])


def return_modal(qa: CafQa, ep: CafEpisode) -> dict:
    """Return with reasons: what needs to change (to the lead professional by DM)."""
    blocks: list[Block] = [
        context(f"*{ref(ep)}*: the reasons go to the lead professional and the co-ordinator "
                f"by DM. {wording.CAF_NO_NAMES}"),
        {"type": "input", "block_id": ids.IN_CAF_QA_REASONS[0],
         "label": {"type": "plain_text", "text": "What needs to change?"},
         "hint": {"type": "plain_text", "text": "Which checks are not met, and what would meet "
                  "them: " + "; ".join(domain.checks(qa.kind)) + "."},
         "element": {"type": "plain_text_input", "multiline": True, "max_length": 1500,
                     "action_id": ids.IN_CAF_QA_REASONS[1]}},
    ]
    return _view("Return with reasons", ids.MODAL_CAF_QA_RETURN, str(qa.id), blocks, "Return it")


def done_text(qa: CafQa, ep: CafEpisode) -> str:
    """The private confirmation to the manager who answered."""
    if qa.status == domain.AGREED:
        return f"Agreed: {domain.agreed_words(qa, ep)}"
    return "Returned: the lead professional and the co-ordinator are told why."


def draw(intent: str, d: dict[str, Any], policy: Policy) -> dict:
    """A QA intent's message (the renderer's dispatch)."""
    qa: CafQa = intents.restore(CafQa, d["qa"])
    ep: CafEpisode = intents.restore(CafEpisode, d["episode"])
    due = datetime.fromisoformat(d["due"]).astimezone(policy.tz) if d.get("due") else None
    if intent in (intents.CAF_QA_CARD, intents.CAF_QA_CARD_DONE):
        return qa_card(qa, ep, policy, due)
    if intent == intents.CAF_QA_AGREED:
        return agreed_dm(qa, ep, policy)
    if intent == intents.CAF_QA_RETURNED:
        return returned_dm(qa, ep)
    assert due is not None
    return due_post(qa, ep, due, policy)
