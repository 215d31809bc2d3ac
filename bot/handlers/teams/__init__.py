"""Microsoft Teams: its Adaptive Card renderer, transport, listeners and ids. Nothing outside
this package imports microsoft_agents or spells Teams markup (``<at>``) or Bot Connector
calls."""
