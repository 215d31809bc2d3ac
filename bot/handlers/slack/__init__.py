"""Slack: its listeners, renderer (Block Kit), transport and ids. Nothing outside this
package imports slack_bolt or slack_sdk or spells Slack markup, ids or method names."""
