"""Where the Teams transport writes down a delivery before the sender records it.

The Bot Connector cannot be searched by our key, so this note is what ``find`` reads
(see ``bot.handlers.teams.transport``). It is kept on the outbox row (its message id,
written while the row is still ``sending``); a message-reference table replaces that
here alone.
"""

from __future__ import annotations

from typing import Protocol

from bot.outbox import Delivered
from store import sql
from store.runner import TxRunner
from store.sql import OutboxRow


class Journal(Protocol):
    async def delivered(self, row: OutboxRow, where: Delivered) -> None:
        """Write down (committed) that ``row`` was delivered ``where``."""
        ...

    async def noted(self, row: OutboxRow) -> str | None:
        """The message id written down for ``row``, None if none was."""
        ...


class OutboxJournal:
    """The note kept on the outbox row itself, in its own short transaction."""

    def __init__(self, runner: TxRunner) -> None:
        self.runner = runner

    async def delivered(self, row: OutboxRow, where: Delivered) -> None:
        if where.message_id:
            await self.runner.run(
                lambda tx: sql.note_delivered(tx.cx, row.id, str(where.message_id)))

    async def noted(self, row: OutboxRow) -> str | None:
        return await self.runner.read(lambda cx: sql.noted_delivery(cx, row.id))
