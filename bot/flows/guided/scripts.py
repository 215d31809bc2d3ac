"""The two question scripts, as data: ``/consult`` and ``/refer``.

Sources (``domain/`` beside DESIGN.md): the good-referral questions are
Cambridgeshire's "What makes a good referral" / "What a good contact referral
looks like" (DESIGN.md section 3); ratings and consent from Camden's contact
service and Cambridgeshire's MASH pages; the suspended types from
Cambridgeshire's COVID changes; concern categories from the Children in Need
census factors (NOTES.md). Choices, not free text, wherever a free answer
would identify a family (a named school, a date of birth).
"""

from __future__ import annotations

from bot.flows.guided.models import Kind, Option
from bot.flows.guided.rules import (
    CATEGORIES,
    LEVELS,
    REFERENCE_PATTERN,
    human_duration,
    suspended_in_text,
)
from bot.flows.guided.script import (
    REDIRECTED,
    URGENT,
    Answers,
    Context,
    Question,
    Script,
    answered,
    go,
)
from bot.policy import Policy


def _opts(*pairs: tuple[str, str]) -> tuple[Option, ...]:
    return tuple(Option(v, label) for v, label in pairs)


ROLES = _opts(
    ("dsl", "Designated safeguarding lead"),
    ("teacher", "Teacher or other school staff"),
    ("health_visitor", "Health visitor or school nurse"),
    ("midwife", "Midwife"),
    ("health", "GP, doctor, nurse or other health professional"),
    ("police", "Police officer or staff"),
    ("youth_worker", "Youth worker"),
    ("early_years", "Early years practitioner"),
    ("housing", "Housing officer"),
    ("family_worker", "Family support or early help worker"),
    ("social_worker", "Social worker"),
    ("voluntary", "Voluntary or community sector worker"),
    ("other", "Other"),
)

# Agencies, not organisations: "St X Primary" would identify the child.
AGENCIES = _opts(
    ("education", "Education"),
    ("health", "Health"),
    ("police", "Police"),
    ("youth", "Youth service"),
    ("early_years", "Early years"),
    ("housing", "Housing"),
    ("voluntary", "Voluntary sector"),
    ("other", "Other"),
)

# Age bands, never a date of birth (DESIGN.md principle 1).
AGE_BANDS = _opts(
    ("unborn", "Unborn"),
    ("0-2", "0–2"),
    ("3-4", "3–4"),
    ("5-10", "5–10"),
    ("11-15", "11–15"),
    ("16-17", "16–17"),
)
OLDER = ("11-15", "16-17")  # where Gillick competence is relevant

EHA = _opts(
    ("done", "Yes, an Early Help Assessment has been done"),
    ("offered", "Offered, but not taken up"),
    ("not_offered", "Not offered yet"),
    ("not_appropriate", "Not appropriate: the worry is too serious to wait"),
    ("unknown", "Don't know"),
)
OPEN_CAF = _opts(("yes", "Yes"), ("no", "No"), ("dont_know", "Don't know"))
PARENTS_AWARE = _opts(("yes", "Yes"), ("no", "No"), ("not_sure", "Not sure"))
CONSENT = _opts(
    ("given", "Given"),
    ("refused", "Refused"),
    ("not_sought", "Not sought yet"),
    ("unsafe", "Not sought: asking would put the child at risk"),
)
NO_CONSENT = ("refused", "not_sought", "unsafe")
GILLICK = _opts(
    ("yes", "Yes, they have been spoken to"),
    ("no", "No, not yet"),
    ("not_appropriate", "No: it would not be safe or appropriate"),
)
WANTS = _opts(
    ("referral", "Advice on whether to make a referral"),
    ("eha", "Advice on whether to start an Early Help Assessment (CAF)"),
    ("consent", "Advice on seeking consent"),
    ("signpost", "Where else the family could get help"),
    ("general", "General advice about a worry"),
    ("known", "To find out whether a child is known to children's services"),
)


# --- questions shared by both scripts -----------------------------------------


def _safety_gate() -> Question:
    # DESIGN.md principle 3: every flow opens with this, and "yes" stops it.
    return Question(
        "danger",
        "Is a child in immediate danger right now?",
        Kind.YESNO,
        help="If yes, we stop here and tell you who to call now.",
        then=(go(URGENT, answered("danger", "yes")),),
    )


def _about_you() -> list[Question]:
    return [
        Question("role", "What is your role?", Kind.CHOICE, ROLES),
        Question(
            "agency",
            "Which agency do you work for?",
            Kind.CHOICE,
            AGENCIES,
            help="The kind of agency only: naming a school or setting could identify the child.",
        ),
    ]


def _about_child() -> list[Question]:
    return [
        Question(
            "age_band",
            "How old is the child?",
            Kind.CHOICE,
            AGE_BANDS,
            help="An age band only, never a date of birth.",
        ),
        Question(
            "categories",
            "What is the worry about? Choose all that apply.",
            Kind.MULTI,
            tuple(Option(v, label) for v, label in CATEGORIES.items()),
        ),
        Question(
            "lado",
            "Is the worry about someone who works or volunteers with children?",
            Kind.YESNO,
            help="For example a member of staff, a coach or a volunteer.",
        ),
    ]


def _worry(policy: Policy) -> list[Question]:
    def hit(a: Answers) -> bool:
        return suspended_in_text(policy, str(a.get("worried", ""))) is not None

    def hit_help(a: Answers) -> str:
        t = suspended_in_text(policy, str(a.get("worried", "")))
        return f"This sounds like: {t.label}. {t.redirect}" if t else ""

    return [
        Question(
            "worried",
            "What are you worried about?",
            Kind.TEXT,
            help="No names, dates of birth, addresses or schools: describe what happened.",
            placeholder="What you have seen or been told",
        ),
        # Keywords of a suspended type in the description: ask, never assume,
        # so a real safeguarding worry that mentions e.g. a court order goes on.
        Question(
            "suspended_check",
            "The front door is not taking this kind of request at the moment. "
            "Is there also a worry about a child's safety or welfare?",
            Kind.YESNO,
            help=hit_help,
            ask_if=hit,
            then=(go(REDIRECTED, answered("suspended_check", "no")),),
        ),
        Question("risks", "What do you think the risks to the child are, and why?", Kind.TEXT),
        Question(
            "level",
            "How serious is it?",
            Kind.CHOICE,
            tuple(Option(v, label) for v, label in LEVELS.items()),
        ),
        Question("why_now", "What has prompted this now?", Kind.TEXT),
    ]


def _tried(*, optional: bool) -> list[Question]:
    return [
        Question(
            "tried",
            "What has been tried so far?",
            Kind.TEXT,
            optional=optional,
            help="Support already in place, and whether it is working.",
        ),
        Question("eha", "Has an Early Help Assessment been offered or done?", Kind.CHOICE, EHA),
        Question(
            "open_caf",
            "Does the child already have an open CAF or early help plan?",
            Kind.CHOICE,
            OPEN_CAF,
        ),
    ]


def _consent_reason_text(a: Answers) -> str:
    return {
        "refused": "What reason was given for refusing, and what did you explain?",
        "not_sought": "Why has consent not been sought yet?",
        "unsafe": "Briefly, why would asking for consent put the child at risk?",
    }.get(str(a.get("consent")), "Why was consent not given?")


def _consent() -> list[Question]:
    return [
        Question(
            "parents_aware",
            "Are the parents or carers aware of your worry?",
            Kind.CHOICE,
            PARENTS_AWARE,
        ),
        Question(
            "consent",
            "Have the parents or carers consented to a referral?",
            Kind.CHOICE,
            CONSENT,
            help="Seek consent unless asking would put the child at risk of significant harm "
            "or cause a delay in protecting them.",
        ),
        Question(
            "consent_reason",
            _consent_reason_text,
            Kind.TEXT,
            ask_if=answered("consent", *NO_CONSENT),
        ),
    ]


def _child_voice() -> Question:
    return Question(
        "child_voice",
        "What does the child say, and what do they want to happen?",
        Kind.TEXT,
        help='Type "not known" if you do not know.',
    )


def _earlier() -> list[Question]:
    return [
        Question(
            "before",
            "Have you consulted the front door about this child before?",
            Kind.YESNO,
        ),
        Question(
            "earlier_ref",
            "What was the reference of the earlier consultation?",
            Kind.TEXT,
            placeholder="FD-2026-000123",
            pattern=REFERENCE_PATTERN,
            check=_earlier_exists,
            ask_if=answered("before", "yes"),
        ),
    ]


def _earlier_exists(value: object, _answers: Answers, ctx: Context) -> str | None:
    # ``value`` matched REFERENCE_PATTERN, so repeating it cannot leak a name.
    if not ctx.reference_exists(str(value)):
        return f"No consultation with the reference {value} was found: please check it."
    return None


# --- the scripts ---------------------------------------------------------------


def consult_script(policy: Policy) -> Script:
    """``/consult``: the no-names consultation (CAF consultation line, Barnet model)."""
    questions = (
        _safety_gate(),
        Question(
            "want",
            "What would you like from this consultation?",
            Kind.CHOICE,
            WANTS,
            # Scenario 7: "is this child known to you?" is a suspended request.
            then=(go(REDIRECTED, answered("want", "known")),),
        ),
        *_about_you(),
        *_about_child(),
        *_worry(policy),
        *_tried(optional=True),
        *_consent(),
        _child_voice(),
        *_earlier(),
    )
    return Script("consult", "consultation", "/consult", questions)


def refer_script(policy: Policy) -> Script:
    """``/refer``: the good-referral checklist (Cambridgeshire "What makes a good referral")."""
    types = (
        Option("concern", "A worry about a child's safety or welfare"),
        Option("early_help", "A request for early help for a family"),
        *(Option(t.id, t.label) for t in policy.suspended_types),
    )
    suspended = tuple(t.id for t in policy.suspended_types)
    phone = policy.clock("written_confirmation")
    questions = (
        _safety_gate(),
        Question(
            "ref_type",
            "What kind of referral is this?",
            Kind.CHOICE,
            types,
            then=(go(REDIRECTED, answered("ref_type", *suspended)),),
        ),
        Question(
            "phoned",
            "Have you already phoned the front door about this urgently?",
            Kind.YESNO,
            help="If you have, this checklist is the written confirmation of that call.",
        ),
        Question(
            "phoned_at",
            "When did you phone?",
            Kind.DATE,
            help="The written confirmation is due within "
            f"{human_duration(phone.duration, phone.basis)} of the call.",
            placeholder="2026-03-07T18:30",
            ask_if=answered("phoned", "yes"),
        ),
        *_about_you(),
        *_about_child(),
        *_worry(policy),
        *_tried(optional=False),
        *_consent(),
        Question(
            "gillick",
            "Has the young person been spoken to directly about the worry?",
            Kind.CHOICE,
            GILLICK,
            help="A young person of sufficient age and understanding (Gillick competent) "
            "should be spoken to before a referral is made.",
            ask_if=lambda a: a.get("age_band") in OLDER,
        ),
        _child_voice(),
        Question("parent_voice", "What do the parents or carers say?", Kind.TEXT, optional=True),
        Question(
            "referrer_done",
            "What have you done so far?",
            Kind.TEXT,
            optional=True,
            help="E.g. spoken to your safeguarding lead or other agencies, an Early Help plan.",
        ),
        Question(
            "support_needed",
            "What support do you think the family needs?",
            Kind.TEXT,
            optional=True,
        ),
    )
    return Script("refer", "referral checklist", "/refer", questions)


KINDS = ("consult", "refer")


def build(kind: str, policy: Policy) -> Script:
    """The script for ``consult`` or ``refer`` under ``policy``."""
    if kind == "consult":
        return consult_script(policy)
    if kind == "refer":
        return refer_script(policy)
    raise ValueError(f"unknown flow kind {kind!r}")


# Labels by policy: every drawing of a card asks, and building both scripts each time was
# about a tenth of drawing one (py-spy). A policy is frozen, so its labels never change;
# the policy is held with them so its id is not reused.
_LABELS: dict[int, tuple[Policy, dict[str, dict[str, str]]]] = {}


def answer_labels(policy: Policy) -> dict[str, dict[str, str]]:
    """Each question's option values and the words shown for them: the one table a card
    uses to show a stored answer ("dont_know" -> "Don't know", "school" -> "School …").
    Shared: read it, don't change it."""
    held = _LABELS.get(id(policy))
    if held is not None and held[0] is policy:
        return held[1]
    if len(_LABELS) >= 8:  # a process has one policy; tests make many
        _LABELS.clear()
    labels = _answer_labels(policy)
    _LABELS[id(policy)] = (policy, labels)
    return labels


def _answer_labels(policy: Policy) -> dict[str, dict[str, str]]:
    yes_no = {"yes": "Yes", "no": "No"}
    labels: dict[str, dict[str, str]] = {}
    for kind in KINDS:
        for q in build(kind, policy).questions:
            if q.options:
                labels.setdefault(q.id, {}).update({o.value: o.label for o in q.options})
            elif q.kind == Kind.YESNO:
                labels.setdefault(q.id, dict(yes_no))
    return labels
