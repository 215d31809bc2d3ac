"""Adaptive Cards for Teams: pure functions of state, as Slack's ``blocks`` are."""
