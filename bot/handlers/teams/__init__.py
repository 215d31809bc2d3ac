"""Microsoft Teams: its listeners, renderer (Adaptive Cards), transport, ids and the app
package. Nothing outside this package imports microsoft_agents."""
