"""Who may do what in Teams: the policy's managers and advisors by Entra object id.

The roles are the policy's ``teams:`` section (``policy.people("teams").roles``): a
policy with no such section names nobody in Teams. Membership of an Entra group is not
resolved yet: a group grants nothing (fail closed).
"""

from __future__ import annotations

from bot.policy import Policy, Roles


def roles(policy: Policy) -> Roles:
    """The policy's roles for Teams people."""
    return policy.people("teams").roles


def is_manager(policy: Policy, user_id: str) -> bool:
    """A MASH / CAF duty manager: may decide ratings, assign, snooze and close cards."""
    return bool(user_id) and "teams" in policy.platforms and (
        user_id in roles(policy).managers.users)


def is_advisor(policy: Policy, user_id: str) -> bool:
    """A duty advisor (or a manager)."""
    return bool(user_id) and "teams" in policy.platforms and (
        user_id in roles(policy).advisors.users or is_manager(policy, user_id))


def is_caf_team(policy: Policy, user_id: str) -> bool:
    """The CAF team (as Slack's ``not_team``): a duty advisor or a manager; may act on any
    CAF episode."""
    return is_advisor(policy, user_id)
