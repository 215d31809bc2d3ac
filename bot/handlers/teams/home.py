"""The "My queue" card in Teams: Slack's App Home, in the person's chat with Front Door.

Sent when they type ``home`` (or ``my queue``) and when they first open the chat (the app
installed for them, or the chat begun); the card's ``refresh`` brings Teams back for it
(``home.refresh``) whenever it is shown again, answered with the card redrawn. The roles
are checked as everywhere else (``people.People``); the data is the App Home's
(``bot.flows.overview``). It is drawn for this person and this moment, so it is answered
directly, never queued.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.handlers.teams import TEAMS, people
from bot.handlers.teams.cards import home as cards
from bot.services import Services

COMMANDS = ("home", "my queue")
# Teams tells of a first opening twice (installationUpdate and conversationUpdate): the
# second within this time is not answered again.
WELCOME_ONCE = timedelta(minutes=10)


class Home:
    """The My queue card for one process."""

    def __init__(self, sv: Services, who: people.People) -> None:
        self.sv = sv
        self.who = who

    async def first_welcome(self, user: str) -> bool:
        """Whether to greet ``user`` now: once per ``WELCOME_ONCE`` window, across every
        replica (the window's claim is a row, as a request's once-key is)."""
        window = int(self.sv.clock().timestamp() // WELCOME_ONCE.total_seconds())
        claimed, _ = await self.sv.tx.run(
            lambda tx: tx.claim_event(f"teams:welcome:{user}:{window}"))
        return bool(claimed)

    async def activity(self, user: str, user_mri: str) -> dict[str, Any]:
        """The card's message for ``user`` (Entra object id; ``user_mri``: their Teams id,
        which the card's refresh names)."""
        is_manager = await self.who.is_manager(user)
        is_advisor = await self.who.is_advisor(user)
        data = await self.sv.overview.aitems(user, is_manager, is_advisor, platform=TEAMS)
        return cards.home_activity(user_mri=user_mri, is_manager=is_manager,
                                   is_advisor=is_advisor, policy=self.sv.policy,
                                   now=self.sv.clock(), **data)

    async def card(self, user: str, user_mri: str) -> dict[str, Any]:
        """The card alone (a refresh's answer)."""
        return cards.home_card(await self.activity(user, user_mri))
