"""The Teams agent: every activity Teams sends ``POST /api/messages``, routed to thin
listeners (``flows``, ``cards``) that call the same services as Slack's.

- a message: ``consult`` / ``refer`` (in the 1:1 chat, or ``@Front Door consult`` in a
  channel, the mention stripped) start a flow; other text in the 1:1 chat answers its
  question; an Action.Submit (a message with a ``value``) answers a choice;
- an ``adaptiveCard/action`` invoke (Action.Execute on a triage card): the card's actions;
- ``task/fetch`` / ``task/submit`` invokes: the card's dialogs (``dialogs``), and ``caf``'s
  registration dialog (``caf``);
- ``home`` / ``my queue``, the chat first opened (the app installed for the person, or
  the chat begun), and the card's refresh (``home.refresh``): the My queue card (``home``);
- every activity: the conversation reference is remembered, so proactive messages reach
  the person later (``references``).

Nothing is echoed into a log: an error is logged by its kind (``http.quiet_turn_error``).
"""

from __future__ import annotations

import logging
from typing import Any

from microsoft_agents.activity import (
    Activity,
    ActivityTypes,
    AdaptiveCardInvokeResponse,
    AdaptiveCardInvokeValue,
    InvokeResponse,
)
from microsoft_agents.hosting.core import ActivityHandler, TurnContext
from sqlalchemy.exc import OperationalError

from bot.handlers.teams import caflog, cafview, home, people, turns
from bot.handlers.teams.actions import Cards
from bot.handlers.teams.caf import CafRegistration
from bot.handlers.teams.cards import ac, verbs
from bot.handlers.teams.conversations import References, remember_conversation
from bot.handlers.teams.dialogs import Dialogs
from bot.handlers.teams.flows import ELSEWHERE, Flows
from bot.services import Services

# The same words as Slack's listeners say (``bot.handlers.slack.common``).
BUSY = ("Front Door is busy and could not save that just now. Nothing was lost: "
        "please try again in a minute.")
BROKEN = ("Something went wrong on our side and that did not go through. Your answers so far "
          "are saved: please try again, and if it keeps happening tell the front door team.")

log = logging.getLogger("frontdoor.teams")
FLOW_COMMANDS = {"consult": "consult", "refer": "refer"}
CARD = "application/vnd.microsoft.card.adaptive"
MESSAGE = "application/vnd.microsoft.activity.message"


class FrontDoorAgent(ActivityHandler):
    """Front Door for Teams (one per process)."""

    def __init__(self, sv: Services, references: References,
                 roster: people.Roster | None = None) -> None:
        self.sv = sv
        self.references = references
        who = people.People(sv.policy, roster)  # the roles: named people, teams' rosters
        self.who = who
        self.flows = Flows(sv)
        self.cards = Cards(sv, who)
        self.dialogs = Dialogs(sv, who)
        self.caf = CafRegistration(sv, who)
        self.home = home.Home(sv, who)

    async def on_turn(self, turn_context: TurnContext) -> None:  # type: ignore[override]
        """Remember where the sender (and the channel) can be reached, then route."""
        activity = turn_context.activity
        for ref in turns.reference_of(activity):
            remember_conversation(self.references, ref)
        try:
            await super().on_turn(turn_context)
        except Exception as exc:  # noqa: BLE001 - the person must hear something
            # Its kind only: the message may quote what was typed. Plain words to the
            # person, never the exception (the SDK's default put it in the chat).
            busy = isinstance(exc, OperationalError)
            log.error("teams %s failed: %s", activity.type, type(exc).__name__,
                      exc_info=None if busy else exc)
            words = BUSY if busy else BROKEN
            if activity.type == ActivityTypes.invoke:  # said to the one who clicked
                body: dict[str, Any] = (
                    {"task": {"type": "message", "value": words}}
                    if str(activity.name or "").startswith("task/")
                    else {"statusCode": 200, "type": MESSAGE, "value": words})
                await turn_context.send_activity(Activity(
                    type=ActivityTypes.invoke_response,
                    value=InvokeResponse(status=200, body=body).model_dump(
                        by_alias=True, exclude_none=True)))
            elif activity.type == ActivityTypes.message and turns.user_of(activity):
                await turns.reply(turn_context, ac.text_activity(words))

    async def on_message_activity(self, turn_context: TurnContext) -> None:  # type: ignore[override]
        """Commands, typed answers and Action.Submit data."""
        activity = turn_context.activity
        user = turns.user_of(activity)
        if not user:  # not a person of the tenant (another bot, a connector): nothing to do
            return
        once = turns.once_key(activity)
        personal = turns.is_personal(activity)
        data = turns.submitted(activity)
        if data is not None:
            if personal:
                await self.flows.submitted(turn_context, user, data, once)
            return
        text = turns.typed(activity)
        command, _, rest = text.partition(" ")
        command = command.casefold()
        if command == "caflog":
            await turns.reply(turn_context, await caflog.show(
                self.sv, user, rest, personal=personal, entities=activity.entities or [],
                who=self.who))
        elif command == "caf" and rest:  # a lookup; bare "caf" registers (``caf``)
            await turns.reply(turn_context, await cafview.show(
                self.sv, user, rest.split(), personal=personal, who=self.who))
        elif command in FLOW_COMMANDS and not rest:
            await self.flows.start(turn_context, user, FLOW_COMMANDS[command], once,
                                   personal=personal)
        elif command == "caf" and not rest:
            await self._caf(turn_context, user, personal=personal)
        elif personal and text.casefold() in home.COMMANDS:
            await turns.reply(turn_context, await self.home.activity(user, _mri(activity)))
        elif personal and text:
            await self.flows.typed(turn_context, user, text, once)

    async def _caf(self, context: TurnContext, user: str, *, personal: bool) -> None:
        """``caf``: the card opening the registration dialog, in the person's own chat (a
        channel is told where to look, as ``refer`` is)."""
        answer = await self.caf.command(user)
        if personal:
            await turns.reply(context, answer)
            return
        ref = self.references.get(user)
        if ref is None or not ref.conversation_id:  # their chat is not known yet
            await turns.reply(context, ac.text_activity(
                "Please open your personal chat with Front Door and type caf there."))
            return
        await turns.send_to(context, ref.conversation_id, answer)
        await turns.reply(context, ac.text_activity(ELSEWHERE))

    async def on_installation_update_add(  # type: ignore[override]
        self, turn_context: TurnContext
    ) -> None:
        """The app installed for the person (not upgraded): their queue, in their chat."""
        if turn_context.activity.action == "add":
            await self._welcome(turn_context)

    async def on_members_added_activity(  # type: ignore[override]
        self, members_added: list[Any], turn_context: TurnContext
    ) -> None:
        """The personal chat begun (the bot added to it): their queue."""
        bot = turn_context.activity.recipient
        if any(bot is not None and m.id == bot.id for m in members_added or []):
            await self._welcome(turn_context)

    async def _welcome(self, context: TurnContext) -> None:
        activity = context.activity
        user = turns.user_of(activity)
        if user and turns.is_personal(activity) and await self.home.first_welcome(user):
            await turns.reply(context, await self.home.activity(user, _mri(activity)))

    async def on_invoke_activity(  # type: ignore[override]
        self, turn_context: TurnContext
    ) -> InvokeResponse | None:
        """Dialogs (``task/fetch`` opens one, ``task/submit`` sends it); the rest as the
        SDK routes them (Action.Execute to ``on_adaptive_card_invoke``)."""
        activity = turn_context.activity
        if activity.name not in ("task/fetch", "task/submit"):
            return await super().on_invoke_activity(turn_context)
        value = activity.value if isinstance(activity.value, dict) else {}
        data = value.get("data") if isinstance(value.get("data"), dict) else {}
        user = turns.user_of(activity)
        if data.get(verbs.ACTION) == verbs.CAF_REGISTER:
            body = await (self.caf.fetch(user) if activity.name == "task/fetch"
                          else self.caf.submit(user, data))
        elif activity.name == "task/fetch":
            body = await self.dialogs.fetch(user, data)
        else:
            body = await self.dialogs.submit(user, data, turns.once_key(activity))
        return InvokeResponse(status=200, body=body)

    async def on_adaptive_card_invoke(  # type: ignore[override]
        self, turn_context: TurnContext, invoke_value: AdaptiveCardInvokeValue
    ) -> AdaptiveCardInvokeResponse:
        """Action.Execute: do it, then answer with the card as it now is (or words for the
        person who clicked, shown to them only)."""
        activity = turn_context.activity
        action = invoke_value.action
        data = dict(action.data or {}) if isinstance(action.data, dict) else {}
        if action.verb == verbs.HOME_REFRESH:  # the My queue card, shown again
            return AdaptiveCardInvokeResponse(status_code=200, type=CARD, value=(
                await self.home.card(turns.user_of(activity), _mri(activity))))
        kind, value = await self.cards.execute(
            turns.user_of(activity), str(action.verb or ""), data, turns.once_key(activity))
        return AdaptiveCardInvokeResponse(status_code=200, type=CARD if kind == "card"
                                          else MESSAGE, value=value)


def _mri(activity: Activity) -> str:
    """The sender's Teams id (``29:…``): what a card's refresh ``userIds`` name."""
    sender = activity.from_property
    return str(sender.id or "") if sender is not None else ""
