"""Who may do what in Teams: the policy's managers and advisors by Entra object id.

One place reads the roles, so the policy's ``teams:`` section (the lead's change:
``policy.people("teams").roles``) is a change here alone. Until it lands the roles are the
policy's ``roles`` (where a Teams deployment lists Entra object ids). Membership of an
Entra group is not resolved yet: a group grants nothing (fail closed).
"""

from __future__ import annotations

from bot.policy import Policy, Roles


def roles(policy: Policy) -> Roles:
    """The policy's roles for Teams people."""
    people = getattr(policy, "people", None)
    if callable(people):  # the per-platform policy, once it lands
        return people("teams").roles  # type: ignore[no-any-return]
    return policy.roles


def is_manager(policy: Policy, user_id: str) -> bool:
    """A MASH / CAF duty manager: may decide ratings, assign, snooze and close cards."""
    return bool(user_id) and user_id in roles(policy).managers.users


def is_advisor(policy: Policy, user_id: str) -> bool:
    """A duty advisor (or a manager)."""
    return bool(user_id) and (user_id in roles(policy).advisors.users
                              or is_manager(policy, user_id))
