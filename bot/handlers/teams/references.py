"""Conversation references: what the bot keeps to reach a person (or a channel) later.

Teams gives them with every activity (install, first contact, each message): the tenant's
Bot Connector address (``serviceUrl``), the conversation, the tenant, the bot's own id and
the person's Entra object id. The transport reads them to send proactive messages
(reminders, outcomes, advice). Everything goes through ``remember_conversation`` so the
storage can change: today a store the process holds (``MemoryReferences``; filled again as
people talk to the bot). The table it becomes, ``teams_conversation``: ``user_id`` (the
Entra object id, or a channel's ``19:…@thread.tacv2`` id for a channel; primary key,
varchar 255), ``tenant_id``, ``service_url`` (text), ``bot_id`` (``28:<app id>``),
``conversation_id`` (the 1:1 chat or the channel; varchar 255), ``kind``
(personal/channel/groupChat) and ``updated_at`` (timestamptz). No name, no message text.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Reference:
    """Where the bot reaches someone: ``user_id`` is the Entra object id (or the channel's
    id), the rest what Teams told us on their last activity."""

    user_id: str
    service_url: str
    tenant_id: str
    bot_id: str
    conversation_id: str | None = None
    kind: str = "personal"


class References(Protocol):
    """The store of references (see the module's docstring)."""

    def get(self, user_id: str) -> Reference | None: ...

    def put(self, ref: Reference) -> None: ...


class MemoryReferences:
    """References kept by the process."""

    def __init__(self) -> None:
        self._refs: dict[str, Reference] = {}

    def get(self, user_id: str) -> Reference | None:
        """The reference for ``user_id``, if Teams has told us of them."""
        return self._refs.get(user_id)

    def put(self, ref: Reference) -> None:
        """Keep ``ref`` (replacing an older one)."""
        self._refs[ref.user_id] = ref


def remember_conversation(store: References, ref: Reference) -> None:
    """Save what Teams told us; a known conversation is kept when the new reference has
    none (an installation update in a team names no 1:1 chat)."""
    old = store.get(ref.user_id)
    if old is not None and ref.conversation_id is None:
        ref = replace(ref, conversation_id=old.conversation_id)
    if old != ref:
        store.put(ref)
