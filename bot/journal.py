"""Where a transport writes down a delivery before the sender records it.

A platform that cannot be searched by our key (the Bot Connector), or a delivery made
in steps (Slack's three-step file upload), notes what it delivered here the moment the
platform answers, and its ``find`` reads the note after a crash. The note is kept on the
outbox row (its message id, written while the row is still ``sending``). Used by both
platforms' transports, so it belongs to neither.
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
