"""Microsoft Teams: its listeners, Adaptive Card renderer, transport, ids and the app
package. Nothing outside this package imports microsoft_agents or spells Teams markup
(``<at>``) or Bot Connector calls."""

# The ``platform`` of every row this package writes or reads (people, flows, cards, outbox).
TEAMS = "teams"
