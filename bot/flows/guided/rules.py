"""Suggestion rules: pure functions from a flow's answers to a ``Suggestion``.

The bot suggests, a person decides (DESIGN.md principle 2). Every reason
names the rule that produced it and the source document it comes from
(``domain/`` beside DESIGN.md), so an advisor or manager can check it.
``RULES`` lists them all; ``tests/test_flows_rules.py`` works the scenarios
of SCENARIOS.md through them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.flows.guided.models import Reason, Suggestion
from bot.policy import Policy, SuspendedType, format_duration

Answers = Mapping[str, Any]

REFERENCE_PATTERN = r"FD-\d{4}-\d{6}"

# Children in Need census "factors identified at the end of assessment" (NOTES.md),
# so that weekly figures line up with national returns.
CATEGORIES: dict[str, str] = {
    "neglect": "Neglect",
    "emotional_abuse": "Emotional abuse",
    "physical_abuse": "Physical abuse",
    "sexual_abuse": "Sexual abuse",
    "domestic_abuse": "Domestic abuse",
    "parental_mental_health": "Parental mental health",
    "parental_substance_misuse": "Parental substance misuse",
    "parental_learning_disability": "Parental learning disability",
    "cse": "Child sexual exploitation",
    "cce": "Child criminal exploitation / gangs",
    "missing": "Going missing",
    "fgm": "Female genital mutilation (FGM)",
    "radicalisation": "Radicalisation",
    "trafficking": "Trafficking",
    "private_fostering": "Private fostering",
    "self_harm": "Self-harm / the child's mental health",
    "housing_financial": "Housing / financial",
    "school": "School attendance / behaviour",
    "other": "Other",
}

# Abuse, exploitation and going missing are safeguarding concerns in themselves:
# with one of these, a referral without consent is not simply returned
# (Camden "Getting consent"; Cambridgeshire COVID "Section 17").
SAFEGUARDING_CATEGORIES = frozenset(
    {
        "neglect",
        "emotional_abuse",
        "physical_abuse",
        "sexual_abuse",
        "domestic_abuse",
        "cse",
        "cce",
        "missing",
        "fgm",
        "radicalisation",
        "trafficking",
    }
)

# The level of need, in the professional's words, mapped to the thresholds.
LEVELS: dict[str, str] = {
    "significant_harm": "The child has been harmed or is at risk of significant harm",
    "statutory": "The child's needs are not being met; they may need a statutory "
    "social work service",
    "early_help": "The child and family would benefit from early help",
    "practical": "The family needs practical help only; the children are well cared for",
    "not_sure": "I'm not sure",
}

RATING_ORDER = ("blue", "green", "amber_cin", "amber_sh", "red")

# Sources, as cited in reasons.
CAMDEN = "Camden contact service"
CAMBS = "Cambridgeshire MASH referrals"
COVID = "Cambridgeshire front door COVID changes"
GUIDE = "MASH-to-CAF practice guidance"
BARNET = "Barnet CAF team operational model"
# Cited by title, never by file name: a reader has the documents, not our folder.
NOTES = "Domain notes (national practice and other councils)"


@dataclass(frozen=True)
class Rule:
    """A suggestion rule: its id, what it suggests, and where it comes from."""

    id: str
    outcome: str  # the outcome it produces, or "note" when it only adds a reason
    rating: str | None
    source: str
    text: str  # str.format() template


def _rules(*rules: Rule) -> dict[str, Rule]:
    return {r.id: r for r in rules}


RULES: dict[str, Rule] = _rules(
    Rule(
        "R-safety-gate",
        "urgent_referral",
        "red",
        f"{CAMDEN}: Red; {CAMBS}: ASSESSMENT Red",
        "A child in immediate danger is an urgent child protection case: call 999, then "
        "phone it through now. Red: dealt with within {clock}; a strategy discussion follows.",
    ),
    Rule(
        "R-suspended",
        "redirect",
        None,
        f"{COVID}: what we will be suspending",
        "{label}: not taken through the front door. {redirect}",
    ),
    Rule(
        "R-info-sharing",
        "redirect",
        None,
        f"{BARNET}: information sharing",
        "The CAF team may only say whether there is an open CAF episode or an allocated "
        "social worker; nothing more without consent.",
    ),
    Rule(
        "R-lado",
        "lado",
        None,
        f"{NOTES}: outcomes of a consultation (LADO)",
        "A worry that someone who works or volunteers with children has harmed a child goes "
        "to the LADO (allegations against people who work with children), the same working day.",
    ),
    Rule(
        "R-amber-sh",
        "referral",
        "amber_sh",
        f"{CAMDEN}: Amber",
        "At risk of significant harm but not in imminent danger: make a referral now. "
        "Amber: the MASH deals with it within {clock}.",
    ),
    Rule(
        "R-amber-cin",
        "referral",
        "amber_cin",
        f"{CAMDEN}: Amber; {COVID}: Section 17",
        "A child in need of a statutory social work service (section 17): make a referral. "
        "Amber: passed to the social work team within {clock}.",
    ),
    Rule(
        "R-amber-unclear",
        "referral",
        "amber_sh",
        f"{CAMBS}: MASH Amber",
        "It is unclear what level of intervention, if any, is needed: the MASH looks at it "
        "as Amber and gathers information from partner agencies.",
    ),
    Rule(
        "R-green",
        "early_help",
        "green",
        f"{CAMDEN}: Green; {CAMBS}: EARLY HELP - Green",
        "Below the statutory threshold, but the family would benefit from early help: start an "
        "Early Help Assessment (CAF) with the family's consent. Green: within {clock}.",
    ),
    Rule(
        "R-open-caf",
        "continue_caf",
        "green",
        f"{GUIDE}: outcome 1",
        "The child already has an open CAF and the new worries are below the statutory "
        "threshold: continue the CAF and strengthen the family plan (link to the existing CAF "
        "episode); tell the lead professional, and bring the next TAC forward if needed.",
    ),
    Rule(
        "R-blue",
        "signpost",
        "blue",
        f"{CAMDEN}: Blue; {CAMBS}: BLUE",
        "No role for children's social care: signpost the family to universal services "
        "(health, education) or the agency that can help.",
    ),
    Rule(
        "R-advice-unsure",
        "advice_only",
        None,
        f"{BARNET}: CAF consultation line",
        "Not sure of the level of need: a duty advisor will talk it through and advise whether "
        "to make a referral or start a CAF.",
    ),
    Rule(
        "R-consent-unsafe",
        "referral",
        "amber_sh",
        f"{CAMDEN}: getting consent to a referral; {CAMBS}: consent",
        "You said asking for consent would put the child at risk: that is a child protection "
        "concern, so make a referral without consent and let the MASH look at it as Amber "
        "(significant harm). Record why.",
    ),
    Rule(
        "R-consent-sh",
        "note",
        None,
        f"{CAMDEN}: getting consent to a referral; {CAMBS}: MASH Amber",
        "Consent: not needed where seeking it may put the child at risk of significant harm or "
        "delay protecting them; otherwise an Amber referral should have consent or clear "
        "reasons why not. Record the reason.",
    ),
    Rule(
        "R-consent-override",
        "note",
        None,
        f"{CAMDEN}: getting consent to a referral",
        "Consent was not given, but there are safeguarding concerns: a referral may still be "
        "made where it is a proportionate response to them. Record why.",
    ),
    Rule(
        "R-consent-seek",
        "note",
        None,
        f"{CAMDEN}: getting consent to a referral; {GUIDE}: parent/carer consent",
        "Seek the family's informed consent first, and tell them what will be shared and why.",
    ),
    Rule(
        "R-consent-early-help",
        "advice_only",
        None,
        f"{CAMBS}: consent; EARLY HELP - Green (consent based service only)",
        "Early help is consent-based, and a parent saying no to early help does not bring in "
        "specialist services unless there is a risk of significant harm: no referral. Keep "
        "supporting the family through universal services, revisit consent and record the "
        "decision.",
    ),
    Rule(
        "R-consent-s17",
        "advice_only",
        None,
        f"{COVID}: Section 17",
        "A section 17 assessment needs parental consent: without it, and with no safeguarding "
        "concern, a referral is returned to the referrer. Keep supporting the family, revisit "
        "consent and record the decision.",
    ),
    Rule(
        "R-consent-returned",
        "returned",
        "blue",
        f"{COVID}: Section 17; {CAMBS}: consent",
        "No parental consent and no safeguarding concern: the referral will be returned to you "
        "for follow-up. {service} needs consent: seek it and refer again, or keep supporting "
        "the family through universal services and record the decision.",
    ),
    Rule(
        "R-repeat-consultation",
        "referral",
        "amber_cin",
        f"{NOTES}: consultations elsewhere (Oxfordshire, Devon)",
        "This is the {ordinal} consultation about this situation: repeated worry is itself a "
        "signal, so the advice leans towards a referral.",
    ),
    Rule(
        "R-edt-out-of-hours",
        "note",
        None,
        f"{CAMBS}: EDT",
        "Out of hours: the Emergency Duty Team ({edt}) is told now, because significant harm "
        "cannot wait; everything else waits for the next working day.",
    ),
    Rule(
        "R-written-confirmation",
        "note",
        None,
        f"{COVID}: Significant Harm; {CAMDEN}: urgent child protection referrals",
        "An urgent phone referral must be confirmed in writing within {duration}{due}.",
    ),
    Rule(
        "R-eha-first",
        "note",
        None,
        f"{CAMBS}: consideration before making a referral",
        "Where there are no immediate safeguarding concerns, an Early Help Assessment should "
        "have been considered or completed before a referral to children's social care.",
    ),
    Rule(
        "R-gillick",
        "note",
        None,
        f"{CAMBS}: what a good contact referral looks like",
        "A young person of sufficient age and understanding (Gillick competent) should have "
        "their wellbeing discussed with them before a referral is made.",
    ),
)


def reason(rule_id: str, **values: Any) -> Reason:
    """The ``Reason`` for a rule, its text filled in with ``values``."""
    r = RULES[rule_id]
    return Reason(r.id, r.text.format(**values), r.source)


# --- suspended referral types --------------------------------------------------

# Used when the policy lists no "request for information" type but the
# professional asks whether a child is known (Scenario 7).
_INFO_REQUEST = SuspendedType(
    id="request_for_information",
    label="Request for information on whether a child is known",
    keywords=("known to you",),
    redirect="The front door cannot say whether a child is known. Contact the lead "
    "professional or the allocated social worker.",
)


def suspended_in_text(policy: Policy, text: str) -> SuspendedType | None:
    """The first suspended type whose keyword appears in ``text`` (whole words)."""
    low = " ".join(text.lower().split())
    for t in policy.suspended_types:
        for kw in t.keywords:
            if _whole_word(kw.lower()).search(low):
                return t
    return None


@functools.cache
def _whole_word(keyword: str) -> re.Pattern[str]:
    # Compiled once per keyword: this runs for every path walk over a typed worry.
    return re.compile(rf"(?<!\w){re.escape(keyword)}(?!\w)")


def suspended_for(answers: Answers, policy: Policy) -> SuspendedType | None:
    """The suspended type this flow turned out to be, if any.

    From the referral-type choice, from "is this child known?" in a
    consultation, or from keywords in the description that the professional
    confirmed carry no other worry.
    """
    by_id = {t.id: t for t in policy.suspended_types}
    if answers.get("ref_type") in by_id:
        return by_id[answers["ref_type"]]
    if answers.get("want") == "known":
        return by_id.get("request_for_information", _INFO_REQUEST)
    if answers.get("suspended_check") == "no":
        return suspended_in_text(policy, str(answers.get("worried", "")))
    return None


def redirect(st: SuspendedType) -> Suggestion:
    """Scenarios 7-9: a suspended type is redirected; nothing is raised."""
    reasons = [reason("R-suspended", label=st.label, redirect=st.redirect)]
    if st.id == "request_for_information":
        reasons.append(reason("R-info-sharing"))
    return Suggestion("redirect", None, tuple(reasons))


# --- the safety gate -------------------------------------------------------------


def out_of_hours(policy: Policy, now: datetime) -> bool:
    """Whether the front door is closed at ``now`` (the EDT covers)."""
    return not policy.calendar.is_open(now)


def urgent_message(policy: Policy, now: datetime) -> str:
    """What to do now when a child is in immediate danger (Scenario 1)."""
    p = policy.phones
    first = f"Call {p.emergency} now if a child is in immediate danger."
    if out_of_hours(policy, now):
        then = (
            f"Then phone the Emergency Duty Team on {p.edt}: the front door is closed now, "
            "and the EDT covers nights, weekends and bank holidays."
        )
    else:
        then = f"Then phone the front door on {p.front_door} and say it is urgent."
    confirm = policy.clock("written_confirmation")
    after = (
        f"Confirm the call in writing within {human_duration(confirm.duration, confirm.basis)} "
        "(use /refer and say you have phoned)."
    )
    return f"{first} {then} {after}"


def safety_gate(policy: Policy, now: datetime) -> Suggestion:
    """Scenario 1: immediate danger. Red, urgent referral, whatever else was said."""
    red = policy.clock("red")
    confirm = policy.clock("written_confirmation")
    reasons = [reason("R-safety-gate", clock=human_duration(red.duration, red.basis))]
    notes = [urgent_message(policy, now)]
    if out_of_hours(policy, now) and policy.ratings["red"].edt_out_of_hours:
        reasons.append(reason("R-edt-out-of-hours", edt=policy.phones.edt))
        notes.append("Out of hours: the Emergency Duty Team is told now.")
    reasons.append(
        reason(
            "R-written-confirmation",
            duration=human_duration(confirm.duration, confirm.basis),
            due="",
        )
    )
    return Suggestion("urgent_referral", "red", tuple(reasons), tuple(notes))


# --- consultations and referrals ---------------------------------------------------


def safeguarding_concern(answers: Answers) -> bool:
    """Whether the answers show a safeguarding concern (not only a need for support)."""
    cats = set(answers.get("categories") or ())
    return (
        answers.get("level") == "significant_harm"
        or answers.get("lado") == "yes"
        or answers.get("consent") == "unsafe"
        or bool(cats & SAFEGUARDING_CATEGORIES)
    )


def ordinal(n: int) -> str:
    """``3`` -> ``"third"`` (for the repeat-consultation note)."""
    words = {2: "second", 3: "third", 4: "fourth", 5: "fifth", 6: "sixth"}
    return words.get(n, f"{n}th")


@dataclass
class _Draft:
    outcome: str
    rating: str | None
    reasons: list[Reason]
    notes: list[str]

    def set(self, rule_id: str, *, keep: bool = False, **values: Any) -> None:
        """Let a rule decide the outcome and rating (replacing earlier reasons unless kept)."""
        r = RULES[rule_id]
        self.outcome, self.rating = r.outcome, r.rating
        self.reasons = (
            [*self.reasons, reason(rule_id, **values)] if keep else [reason(rule_id, **values)]
        )

    def add(self, rule_id: str, **values: Any) -> None:
        """Add a reason without changing the outcome."""
        self.reasons.append(reason(rule_id, **values))


def human_duration(duration: timedelta, basis: str = "wall") -> str:
    """``24h`` -> ``"24 hours"``, ``3d`` working days -> ``"3 working days"``."""
    hours = duration.total_seconds() / 3600
    if basis == "working_days":
        n = duration.days
        return f"{n} working day{'s' if n != 1 else ''}"
    unit = " working" if basis == "working_hours" else ""
    if hours <= 72 and hours == int(hours):
        n = int(hours)
        return f"{n}{unit} hour{'s' if n != 1 else ''}"
    if duration.seconds == 0:
        return f"{duration.days} days"
    return format_duration(duration)


def _clock(policy: Policy, rating: str) -> str:
    name = policy.ratings[rating].clock
    if name is None:
        return "no clock"
    c = policy.clock(name)
    return human_duration(c.duration, c.basis)


def _base(kind: str, answers: Answers, policy: Policy) -> _Draft:
    """The rating the level of need points to (Camden BRAG; Cambridgeshire BRAG)."""
    d = _Draft("advice_only", None, [], [])
    level = answers.get("level")
    if level == "significant_harm":
        d.set("R-amber-sh", clock=_clock(policy, "amber_sh"))
    elif level == "statutory":
        d.set("R-amber-cin", clock=_clock(policy, "amber_cin"))
    elif level == "early_help":
        d.set("R-green", clock=_clock(policy, "green"))
    elif level == "practical":
        d.set("R-blue")
    elif kind == "refer":
        d.set("R-amber-unclear")  # a referral needs a rating: the MASH's "unclear" Amber
    else:
        d.set("R-advice-unsure")
    return d


def _consent(kind: str, answers: Answers, policy: Policy, d: _Draft) -> None:
    """Consent rules: Camden "Getting consent"; Cambridgeshire consent; COVID Section 17."""
    consent = answers.get("consent")
    if consent is None or consent == "given":
        return
    if consent == "unsafe" and d.rating in (None, "blue", "green", "amber_cin"):
        d.set("R-consent-unsafe")
    if d.rating in ("amber_sh", "red"):
        # Refused: a proportionate referral may go anyway; not sought: say why not.
        d.add("R-consent-override" if consent == "refused" else "R-consent-sh")
        return
    if d.rating not in ("amber_cin", "green"):
        return
    if safeguarding_concern(answers):
        d.add("R-consent-override")
        return
    service = "A section 17 assessment" if d.rating == "amber_cin" else "Early help"
    if kind == "refer":
        label = policy.ratings[d.rating].label
        d.notes.append(f"With consent this would be {label}: {service.lower()}.")
        d.set("R-consent-returned", keep=True, service=service)
    elif consent == "refused":
        d.set("R-consent-s17" if d.rating == "amber_cin" else "R-consent-early-help", keep=True)
    else:  # not sought yet: the advice stands, once consent is sought
        d.add("R-consent-seek")


def suggest(
    kind: str,
    answers: Answers,
    policy: Policy,
    now: datetime,
    *,
    repeat_count: int = 1,
) -> Suggestion:
    """The suggestion for a completed ``consult`` or ``refer`` flow.

    ``repeat_count`` is this consultation's place in a chain of consultations
    about the same situation (1 for the first).
    """
    if answers.get("danger") == "yes":
        return safety_gate(policy, now)
    st = suspended_for(answers, policy)
    if st is not None:
        return redirect(st)

    d = _base(kind, answers, policy)
    # Scenario 11: an open CAF and worries below the statutory threshold.
    if (
        answers.get("open_caf") == "yes"
        and d.rating in ("green", "blue")
        and answers.get("consent") != "unsafe"
    ):
        d.set("R-open-caf")
    else:
        _consent(kind, answers, policy, d)

    if answers.get("lado") == "yes":
        # Scenario 10. The child's own rating stays, so the card still routes.
        d.outcome = "lado"
        d.reasons.insert(0, reason("R-lado"))
        if d.rating in ("red", "amber_sh", "amber_cin"):
            label = policy.ratings[d.rating].label
            d.notes.append(f"Also make a referral for the child ({label}).")

    threshold = policy.flows.repeat_consultation_threshold
    if kind == "consult" and repeat_count >= threshold:
        # Scenario 13: push towards a referral and tell the advisor.
        d.notes.append(f"This is the {ordinal(repeat_count)} consultation about this situation.")
        if d.outcome in ("early_help", "continue_caf", "signpost", "advice_only"):
            d.outcome = "referral"
            if d.rating is None or RATING_ORDER.index(d.rating) < RATING_ORDER.index("amber_cin"):
                d.rating = "amber_cin"
        d.add("R-repeat-consultation", ordinal=ordinal(repeat_count))

    if (
        d.rating is not None
        and policy.ratings[d.rating].edt_out_of_hours
        and out_of_hours(policy, now)
        and d.outcome != "returned"
    ):
        # Scenario 12: Saturday evening, significant harm.
        d.add("R-edt-out-of-hours", edt=policy.phones.edt)
        d.notes.append("Out of hours: the Emergency Duty Team is told now.")

    _good_practice(kind, answers, policy, d)
    return Suggestion(d.outcome, d.rating, tuple(d.reasons), tuple(d.notes))


def _good_practice(kind: str, answers: Answers, policy: Policy, d: _Draft) -> None:
    """Notes that do not change the outcome: EHA first, Gillick, written confirmation."""
    if (
        d.outcome in ("referral",)
        and d.rating == "amber_cin"
        and answers.get("eha") in ("not_offered", "unknown")
        and not safeguarding_concern(answers)
    ):
        d.add("R-eha-first")
    if kind == "refer" and answers.get("gillick") == "no":
        d.add("R-gillick")
    if kind == "refer" and answers.get("phoned") == "yes" and answers.get("phoned_at"):
        c = policy.clock("written_confirmation")
        start = datetime.fromisoformat(str(answers["phoned_at"]))
        due = policy.calendar.due(start, c.duration, c.basis)
        when = due.astimezone(policy.tz).strftime("%a %d %b %Y %H:%M")
        d.add(
            "R-written-confirmation",
            duration=human_duration(c.duration, c.basis),
            due=f": by {when}",
        )
