"""Conversation references: what the bot must keep to message someone first.

A proactive message in Teams needs the tenant's Bot Connector address (``serviceUrl``,
regional, given by every activity Teams sends us), the tenant and the bot's own id, and
for a person the 1:1 conversation with them (created once, then reused). Teams sends
them on install (``conversationUpdate``/``installationUpdate``) and with every message;
the listener saves them here (``remember``) and the transport reads them (``reference``).

Storage is behind this module alone so it can change: today a ``References`` object the
process holds (in memory; the listeners fill it again as people talk to the bot). The
table it becomes (the lead's migration) needs, per person (Entra object id, the key):
``tenant_id``, ``service_url``, ``bot_id``, ``conversation_id`` (the 1:1 chat, once
created) and ``updated_at``; and per tenant its ``service_url``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Reference:
    """Where the bot reaches a person: Teams' address for the tenant, the tenant, the
    bot's id (``28:<app id>``) and the 1:1 conversation once it exists."""

    user_id: str  # the person's Entra object id (what policies and intents name)
    service_url: str
    tenant_id: str
    bot_id: str
    conversation_id: str | None = None


class References(Protocol):
    """The store of references (see the module's docstring)."""

    def get(self, user_id: str) -> Reference | None: ...

    def put(self, ref: Reference) -> None: ...


class MemoryReferences:
    """References kept by the process."""

    def __init__(self) -> None:
        self._refs: dict[str, Reference] = {}

    def get(self, user_id: str) -> Reference | None:
        return self._refs.get(user_id)

    def put(self, ref: Reference) -> None:
        self._refs[ref.user_id] = ref


def reference(store: References, user_id: str) -> Reference | None:
    """The stored reference for a person, None when Teams never told us of them."""
    return store.get(user_id)


def remember(store: References, ref: Reference) -> None:
    """Save what Teams told us (install, first contact, or a 1:1 chat just created); a
    conversation already known is kept when the new reference has none."""
    old = store.get(ref.user_id)
    if old is not None and ref.conversation_id is None:
        ref = replace(ref, conversation_id=old.conversation_id)
    store.put(ref)
