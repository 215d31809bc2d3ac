"""The Teams agent: every activity Teams sends ``POST /api/messages``, routed to thin
listeners (``flows``, ``cards``) that call the same services as Slack's.

- a message: ``consult`` / ``refer`` (in the 1:1 chat, or ``@Front Door consult`` in a
  channel, the mention stripped) start a flow; other text in the 1:1 chat answers its
  question; an Action.Submit (a message with a ``value``) answers a choice;
- an ``adaptiveCard/action`` invoke (Action.Execute on a triage card): the card's actions;
- ``task/fetch`` / ``task/submit`` invokes: the card's dialogs (``dialogs``);
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

from bot.handlers.teams import caflog, cafview, turns
from bot.handlers.teams.actions import Cards
from bot.handlers.teams.cards import ac
from bot.handlers.teams.conversations import References, remember_conversation
from bot.handlers.teams.dialogs import Dialogs
from bot.handlers.teams.flows import Flows
from bot.services import Services

# The same words as Slack's listeners say (``bot.handlers.slack.common``).
BUSY = ("Front Door is busy and could not save that just now. Nothing was lost: "
        "please try again in a minute.")
BROKEN = ("Something went wrong on our side and that did not go through. Your answers so far "
          "are saved: please try again, and if it keeps happening tell the front door team.")

log = logging.getLogger("frontdoor.teams")
FLOW_COMMANDS = {"consult": "consult", "refer": "refer"}
NOT_YET = {"caf"}  # Slack's registration modal; its Teams dialog is still to come
CARD = "application/vnd.microsoft.card.adaptive"
MESSAGE = "application/vnd.microsoft.activity.message"


class FrontDoorAgent(ActivityHandler):
    """Front Door for Teams (one per process)."""

    def __init__(self, sv: Services, references: References) -> None:
        self.sv = sv
        self.references = references
        self.flows = Flows(sv)
        self.cards = Cards(sv)
        self.dialogs = Dialogs(sv)

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
                self.sv, user, rest, personal=personal, entities=activity.entities or []))
        elif command == "caf" and rest:  # a lookup; bare "caf" (registering) is NOT_YET
            await turns.reply(turn_context, await cafview.show(self.sv, user, rest.split(),
                                                               personal=personal))
        elif command in FLOW_COMMANDS and not rest:
            await self.flows.start(turn_context, user, FLOW_COMMANDS[command], once,
                                   personal=personal)
        elif command in NOT_YET:
            await turns.reply(turn_context, ac.text_activity(
                f"{command} is not available in Teams yet: please use Slack or ask the "
                "front door team."))
        elif personal and text:
            await self.flows.typed(turn_context, user, text, once)

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
        if activity.name == "task/fetch":
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
        kind, value = await self.cards.execute(
            turns.user_of(activity), str(action.verb or ""), data, turns.once_key(activity))
        return AdaptiveCardInvokeResponse(status_code=200, type=CARD if kind == "card"
                                          else MESSAGE, value=value)
