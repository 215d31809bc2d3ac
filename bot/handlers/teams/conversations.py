"""Conversation references: what the bot must keep to message someone first.

A proactive message in Teams needs the tenant's Bot Connector address (``serviceUrl``,
regional, given by every activity Teams sends us), the tenant and the bot's own id, and
for a person the 1:1 conversation with them (created once, then reused). Teams sends
them on install (``conversationUpdate``/``installationUpdate``) and with every message;
the listener saves them here (``remember``) and the transport reads them (``reference``).

Storage is behind this module alone: ``DbReferences`` keeps them in the
``teams_conversation`` table (every replica reaches a person the same way);
``MemoryReferences`` is the tests' own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from store.models import TeamsConversation
from store.runner import TxRunner
from store.types import utcnow


@dataclass(frozen=True, slots=True)
class Reference:
    """Where the bot reaches a person: Teams' address for the tenant, the tenant, the
    bot's id (``28:<app id>``) and the 1:1 conversation once it exists."""

    user_id: str  # the person's Entra object id (or a channel's id)
    service_url: str
    tenant_id: str
    bot_id: str
    conversation_id: str | None = None
    kind: str = "personal"  # personal | channel | groupChat


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
    if old != ref:
        store.put(ref)


remember_conversation = remember  # the listeners' name for it


class DbReferences:
    """References in the ``teams_conversation`` table, shared by every replica (a row per
    person or channel: ids and addresses only)."""

    def __init__(self, runner: TxRunner) -> None:
        self.runner = runner

    def get(self, user_id: str) -> Reference | None:
        with self.runner.session() as s:
            row = s.get(TeamsConversation, user_id)
            if row is None:
                return None
            return Reference(row.user_id, row.service_url, row.tenant_id, row.bot_id,
                             row.conversation_id, row.kind)

    def put(self, ref: Reference) -> None:
        with self.runner.session(write=True) as s:
            row = s.get(TeamsConversation, ref.user_id) or TeamsConversation(
                user_id=ref.user_id, tenant_id=ref.tenant_id, service_url=ref.service_url,
                bot_id=ref.bot_id)
            row.kind, row.tenant_id, row.service_url = ref.kind, ref.tenant_id, ref.service_url
            row.bot_id, row.conversation_id = ref.bot_id, ref.conversation_id
            row.updated_at = utcnow()
            s.add(row)
