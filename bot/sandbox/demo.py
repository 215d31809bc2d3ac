"""The sandbox's demo workspace: fictional people and the policy's channels.

Shared by ``frontdoor sandbox`` and the tests (``tests/slackenv.py``), so a
story played in the browser and one played by a test meet the same people.
Every name here is made up.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bot.policy import Policy
from bot.sandbox.webapi import FakeSlack

TEACHER = "U0TEACHER"
HEALTH = "U0HEALTH"
MANAGER = "U0MANAGER"
MANAGER2 = "U0MANAGER2"
ADVISOR = "U0ADVISOR"
COORD = "U0COORD"
LEAD = "U0LEAD"
OUTSIDER = "U0OUTSIDER"

MANAGERS_GROUP_HANDLE = "mash-managers"


@dataclass(frozen=True)
class Person:
    """A seeded member of the demo workspace and what they do at the front door."""

    id: str
    name: str  # the Slack handle (what slash commands send as ``user_name``)
    real_name: str
    title: str  # shown in the people switcher


PEOPLE: tuple[Person, ...] = (
    Person(TEACHER, "ada.teacher", "Ada Teacher", "Teacher (designated safeguarding lead)"),
    Person(HEALTH, "hal.visitor", "Hal Visitor", "Health visitor"),
    Person(MANAGER, "sam.manager", "Sam Manager", "MASH manager"),
    Person(ADVISOR, "dee.advisor", "Dee Advisor", "Duty advisor (CAF social worker)"),
    Person(LEAD, "lee.lead", "Lee Lead", "Lead professional"),
    Person(COORD, "cass.coordinator", "Cass Coordinator", "CAF co-ordinator"),
    Person(MANAGER2, "kit.manager", "Kit Manager", "MASH manager (via @mash-managers)"),
    Person(OUTSIDER, "oli.other", "Oli Other", "Youth worker"),
)


def channel_name(key: str) -> str:
    """The channel name for a policy channel key (``mash_managers`` -> ``mash-managers``)."""
    return key.replace("_", "-")


def policy_channels(policy: Policy) -> list[tuple[str, str]]:
    """``(channel id, name)`` for every channel the policy names, in the policy's order."""
    keys = list(type(policy.channels).model_fields)
    return [(policy.channel(key), channel_name(key)) for key in keys]


def seed(fake: FakeSlack, policy: Policy) -> None:
    """Add the demo people, the policy's channels and its user groups to ``fake``.

    People the policy names as managers or advisors but who are not among the
    demo people (another authority's policy) are added under a plain name, so
    every role the policy relies on exists in the workspace.
    """
    for person in PEOPLE:
        fake.add_user(person.id, person.name, real_name=person.real_name, title=person.title)
    roles = policy.roles
    for role, users in (("manager", roles.managers.users), ("advisor", roles.advisors.users)):
        for uid in users:
            if uid not in fake.users:
                fake.add_user(uid, f"{role}.{uid.lower()}", real_name=f"{role.title()} {uid}")
    for cid, name in policy_channels(policy):
        if cid not in fake.channels:
            fake.add_channel(cid, name)
    for group in roles.managers.usergroups:
        fake.add_usergroup(group, MANAGERS_GROUP_HANDLE, [MANAGER2])
    for group in roles.advisors.usergroups:
        if group not in fake.usergroups:
            fake.add_usergroup(group, f"advisors-{group.lower()}", [COORD])


def people_for(fake: FakeSlack) -> list[Person]:
    """Everyone a person can be in the sandbox: the demo people, then any others seeded."""
    known = {p.id for p in PEOPLE}
    extra = [
        Person(u.id, u.name, u.real_name, "Policy role")
        for u in fake.users.values()
        if u.id not in known and not u.is_bot
    ]
    return [p for p in PEOPLE if p.id in fake.users] + extra


# --- the same people and channels in the sandbox's Teams tenant ---------------------------

TEAMS_TENANT = "00000000-0000-4000-8000-00000000c0c1"  # the fake Bot Connector's (fictional)


def teams_id(person_id: str) -> str:
    """A demo person's Entra object id: a GUID made from their Slack id, so both views
    meet the same person, and a restart finds them again."""
    digits = hashlib.sha256(person_id.encode()).hexdigest()[:12]
    return f"5a4d0000-0000-4000-8000-{digits}"


def teams_member(person_id: str) -> str:
    """A demo person's Bot Connector id in the tenant (``29:…``)."""
    return f"29:1{teams_id(person_id).replace('-', '')}"


def teams_channel(key: str) -> str:
    """A policy channel's id in the demo team (``19:mash-managers@thread.tacv2``)."""
    return f"19:{channel_name(key)}@thread.tacv2"


def with_teams(policy: Policy) -> Policy:
    """``policy`` with a ``teams:`` section for the demo tenant, when it has none: the
    Slack section's channels and role holders, by the demo people's Teams ids. Teams
    groups grant nothing yet (``bot.handlers.teams.people``), so a Slack user group's
    demo member is named as a person."""
    if policy.teams is not None or policy.slack is None:
        return policy
    from bot.policy import TeamsPeople

    slack = policy.slack
    groups = {MANAGERS: [MANAGER2], ADVISORS: [COORD]}

    def ids(role: str, users: tuple[str, ...], usergroups: tuple[str, ...]) -> list[str]:
        people = list(users) + (groups[role] if usergroups else [])
        return list(dict.fromkeys(teams_id(u) for u in people))

    roles = {role: {"users": ids(role, r.users, r.usergroups)}
             for role, r in ((MANAGERS, slack.roles.managers), (ADVISORS, slack.roles.advisors))}
    channels = {key: teams_channel(key) for key in type(slack.channels).model_fields}
    teams = TeamsPeople.model_validate({"channels": channels, "roles": roles})
    return policy.model_copy(update={"teams": teams})


MANAGERS, ADVISORS = "managers", "advisors"
