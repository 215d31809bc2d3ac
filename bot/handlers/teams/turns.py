"""Reading a Teams activity: who sent it, where, what they typed, and its once-key."""

from __future__ import annotations

import hashlib
from typing import Any

from microsoft_agents.activity import Activity
from microsoft_agents.hosting.core import TurnContext

from bot.handlers.teams.conversations import Reference


def user_of(activity: Activity) -> str:
    """The sender's Entra object id (what the policy and the intents name); "" if none."""
    sender = activity.from_property
    return str(sender.aad_object_id or "") if sender is not None else ""


def is_personal(activity: Activity) -> bool:
    """Whether the activity comes from the bot's 1:1 chat with the person."""
    conv = activity.conversation
    return conv is not None and (conv.conversation_type or "personal") == "personal"


def typed(activity: Activity) -> str:
    """The message's text with the bot's own @mention removed ("@Front Door consult")."""
    text = activity.text or ""
    if activity.recipient is not None and activity.recipient.id:
        for entity in activity.entities or []:
            data = entity.model_dump(by_alias=True) if hasattr(entity, "model_dump") else {}
            mentioned = (data.get("mentioned") or {}).get("id")
            if data.get("type") == "mention" and mentioned == activity.recipient.id:
                text = text.replace(str(data.get("text") or ""), " ")
    return " ".join(text.split())


def submitted(activity: Activity) -> dict[str, Any] | None:
    """An Action.Submit's data (a message activity with a ``value`` object), else None."""
    value = activity.value
    return value if isinstance(value, dict) else None


def once_key(activity: Activity) -> str | None:
    """The activity's once-key for the processed-event table: Teams redelivers an activity
    with the same id in the same conversation (hashed: ids are longer than the column)."""
    if not activity.id or activity.conversation is None:
        return None
    raw = f"{activity.conversation.id}|{activity.id}".encode()
    return "teams:" + hashlib.sha256(raw).hexdigest()[:40]


def reference_of(activity: Activity) -> list[Reference]:
    """What this activity tells us about reaching its sender (and its channel) later."""
    conv, user = activity.conversation, user_of(activity)
    if conv is None or not activity.service_url:
        return []
    tenant = str(conv.tenant_id or _tenant(activity) or "")
    bot = str(activity.recipient.id if activity.recipient is not None else "")
    base = {"service_url": activity.service_url, "tenant_id": tenant, "bot_id": bot}
    if is_personal(activity):
        return [Reference(user, conversation_id=conv.id, kind="personal", **base)] if user else []
    refs = [Reference(conv.id, conversation_id=conv.id,
                      kind=conv.conversation_type or "channel", **base)]
    if user:  # their 1:1 chat is not this one: kept if known, created when needed
        refs.append(Reference(user, kind="personal", **base))
    return refs


def _tenant(activity: Activity) -> str | None:
    data = activity.channel_data
    if isinstance(data, dict):
        return (data.get("tenant") or {}).get("id")
    tenant = getattr(data, "tenant", None)
    return getattr(tenant, "id", None) if tenant is not None else None


async def reply(context: TurnContext, activity: dict[str, Any]) -> None:
    """Answer in the conversation the activity came from, now (not through the outbox:
    it is meant for this person and this moment, e.g. why an answer was refused)."""
    await context.send_activity(Activity.model_validate(activity))


async def send_to(context: TurnContext, conversation_id: str, activity: dict[str, Any]) -> None:
    """Say something now in another conversation of the tenant (the person's own chat,
    when they asked in a channel), through the turn's own Bot Connector client."""
    operations = context.turn_state["ConnectorClient"].conversations  # the SDK's adapter's
    await operations.send_to_conversation(conversation_id, Activity.model_validate(activity))
