"""/caf and /caflog: the CAF episode register and the consultation log (being built).

Both commands are in the manifest so a council installs the app once; until
their issues land they answer plainly instead of failing.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.services import Services

NOT_YET = (
    "{command} is not available in this version of Front Door yet. For now, ask the CAF team "
    "directly; consultations you make with /consult are already in the log."
)


def register(app: AsyncApp, sv: Services) -> None:
    """Register /caf and /caflog."""

    @app.command("/caf")
    @app.command("/caflog")
    async def not_yet(ack: AsyncAck, command: dict[str, Any]) -> None:
        await ack(NOT_YET.format(command=command["command"]))
