"""A CAF manager's quality assurance in Teams (``bot.flows.caf.qa``): the QA card's *Agree* and
*Return it* (with its reasons typed on the card), the returned chat's *Marked complete
again* — Action.Execute, with Slack's rules (``slack/caf_qa.py``).

Who first: only the front door's managers answer a QA card (anyone else is audited and
told, and learns nothing about the CAF); *Marked complete again* is the episode's lead
professional or co-ordinator, or the CAF team. The reasons pass the no-names screen
before anything is saved: a refusal names the kind of detail and where, never the words.
The QA service commits each answer on the episode's row (a second click finds it answered)
and queues the card's redraw and the chats; the invoke answers with words for the person
who clicked.
"""

from __future__ import annotations

from typing import Any

from bot.flows.caf import qa as domain
from bot.handlers.teams import people, tasks
from bot.handlers.teams.cafdialogs import GONE as EPISODE_GONE
from bot.handlers.teams.cafdialogs import NOT_YOURS
from bot.handlers.teams.cards import verbs
from bot.services import Services

MANAGERS_ONLY = ("Only the front door's managers can quality assure a CAF assessment. "
                 "Nothing was changed.")
GONE = "That quality assurance request no longer exists."
AGAIN = ("Sent for quality assurance again: a CAF manager will agree the plan or return it "
         "with reasons.")
VERBS = frozenset({verbs.CAF_QA_AGREE, verbs.CAF_QA_RETURN, verbs.CAF_QA_RESUBMIT})


class CafQa:
    """The QA buttons for one process."""

    def __init__(self, sv: Services, who: people.People) -> None:
        self.sv = sv
        self.who = who

    async def execute(self, user: str, verb: str, data: dict[str, Any]) -> str:
        """Do ``verb`` for ``user``; the words the invoke answers with."""
        qa_id = tasks.number(data.get(verbs.QA)) or 0
        if verb == verbs.CAF_QA_RESUBMIT:
            return await self._resubmit(user, qa_id)
        action = "agree" if verb == verbs.CAF_QA_AGREE else "return"
        if not await self.who.is_manager(user):  # first: nothing looked up
            await self.sv.caf_qa.adenied(qa_id or None, user, action)
            return MANAGERS_ONLY
        if verb == verbs.CAF_QA_AGREE:
            result = await self.sv.caf_qa.aagree(qa_id, user)
        else:
            reasons = str(data.get(verbs.IN_TEXT) or "")
            if not reasons.strip():
                return "Say what needs to change: nothing was changed."
            screened = tasks.screen(reasons, data)
            if screened:  # certain or not, a card has no "ordinary word" box: rewrite it
                return screened[0] + " Nothing was saved."
            result = await self.sv.caf_qa.asend_back(qa_id, user, reasons)
        self.sv.sender.kick()
        if not result.ok or result.qa is None or result.episode is None:
            return result.message or GONE
        if result.qa.status == domain.AGREED:
            return f"Agreed: {domain.agreed_words(result.qa, result.episode)}"
        return "Returned: the lead professional and the co-ordinator are told why."

    async def _resubmit(self, user: str, qa_id: int) -> str:
        found = await self.sv.caf_qa.aget(qa_id) if qa_id else None
        ep = found[1] if found else None
        team = await self.who.is_caf_team(user)
        if ep is None or not (user in (ep.lead_user_id, ep.coordinator_user_id) or team):
            if ep is None and team:
                return EPISODE_GONE
            await self.sv.caf.adenied(ep.id if ep else None, user, "qa_resubmit")
            return NOT_YOURS
        result = await self.sv.caf_qa.aresubmit(qa_id, user)
        self.sv.sender.kick()
        return AGAIN if result.ok else (result.message or GONE)
