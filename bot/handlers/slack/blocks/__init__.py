"""Block Kit rendering: pure functions from state to Slack blocks.

``text`` (escaping, clipping, limits, times in words), ``flow`` (the
professional's DM), ``cards`` (channel cards and the DMs that follow them),
``modals`` and ``home``. No Slack API calls, no database, no clock reads:
callers pass ``now``. ``ids`` holds the action/callback/block ids handlers use.
"""
