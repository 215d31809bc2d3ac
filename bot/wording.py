"""What the bot's messages say, in plain words every platform's renderer shares (issue 19).

Moved out of Slack's Block Kit modules so that Slack and Teams say the same thing: labels
for stored answers and consent, the summary a card shows, what happens next, the CAF's
dates and routes. Unescaped and free of markup: a renderer escapes and styles them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from bot.flows.guided.models import Kind, Option, Prompt
from bot.flows.guided.rules import CATEGORIES, human_duration
from bot.flows.guided.scripts import answer_labels
from bot.flows.triage.scheduled import ClockState, clock_label
from bot.labels import humanize, outcome_label, rating_name
from bot.policy import Policy
from store.models import CafEpisode, Consultation, Decision, TriageCard

CONSENT_LABELS: dict[str, str] = {
    "given": "Consent given",
    "refused": "Consent refused",
    "not_sought": "Consent not sought yet",
    "unsafe": "Not sought: asking would put the child at risk",
    "not_required": "Consent not required",
    "": "Not recorded",
}

# Summary answers in the order a manager reads a good referral; other keys follow.
# Keys are the question ids of bot/flows/guided/scripts.py (plus a few plain aliases).
SUMMARY_LABELS: dict[str, str] = {
    "want": "What they would like from the consultation",
    "ref_type": "Kind of referral",
    "worried": "What are the worries",
    "worries": "What are the worries",
    "lado": "About someone who works or volunteers with children",
    "risks": "Risks to the child, and why",
    "level": "How serious the referrer thinks it is",
    "why_now": "What has prompted this now",
    "tried": "What has been tried",
    "eha": "Early Help Assessment offered or done",
    "open_caf": "Open CAF or early help plan",
    "parents_aware": "Are the parents or carers aware",
    "child_voice": "Voice of the child",
    "gillick": "Young person spoken to directly (Gillick)",
    "parent_voice": "Voice of the parents or carers",
    "referrer_done": "What the referrer has done",
    "support_needed": "What support the family needs",
}

# Answers shown elsewhere on a card (fields, consent, header) or only used for routing.
SUMMARY_SKIP: frozenset[str] = frozenset(
    {
        "danger",
        "role",
        "agency",
        "age_band",
        "categories",
        "consent",
        "consent_status",
        "consent_reason",
        "suspended_check",
        "before",
        "earlier_ref",
        "phoned",
        "phoned_at",
        "notes",
        "safety_gate",
        "flow",
        "suggestion",
        "answers",
    }
)

NEXT_STEPS: dict[str, str] = {
    "red": "The assessment team will hold a strategy discussion and may start a section 47 "
    "enquiry. They may contact you for more information.",
    "amber_sh": "The MASH will gather information from partner agencies and decide on the next "
    "step. They may contact you for more information.",
    "amber_cin": "An assessment team will contact the family about a child and family "
    "assessment.",
    "green": "The early help team will contact the family about early help. It is a "
    "consent-based service.",
    "blue": "There is no role for children's social care. Please keep supporting the family "
    "and signpost them to universal or community services.",
    # Green for a child with an open CAF (MASH-to-CAF guidance, outcome 1): no new assessment.
    "continue_caf": "The child's open CAF continues: no new assessment is started, and the "
    "family plan is strengthened with these worries. Please tell the CAF's lead professional "
    "too; the next team around the family meeting may be brought forward.",
}

# What the professional answered to advice, in the words they read on the advice message.
ADVICE_ANSWER_WORDS: dict[bool | None, str] = {
    True: "You said you are following this advice. Thank you.",
    False: "You said you are doing something else; your reason is recorded in the "
    "consultation log.",
}

_OPTION_VALUE = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*$")


def answer_text(value: Any) -> str:
    """A stored answer as words."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, (list, tuple)):
        return ", ".join(answer_text(v) for v in value if v is not None)
    if isinstance(value, Mapping):
        return "; ".join(f"{humanize(str(k))}: {answer_text(v)}" for k, v in value.items())
    return str(value)


def summary_parts(summary: Mapping[str, Any] | None) -> tuple[Mapping[str, Any], list[str]]:
    """Split a stored summary into (answers, suggestion notes).

    The flows store ``{"answers": {...}, "suggestion": {"notes": [...]}}``; a flat
    mapping of answers is accepted too, so older or hand-made rows still render.
    """
    if not isinstance(summary, Mapping):
        return {}, []
    answers = summary.get("answers")
    if not isinstance(answers, Mapping):
        answers = summary
    raw: Any = None
    suggestion = summary.get("suggestion")
    if isinstance(suggestion, Mapping):
        raw = suggestion.get("notes")
    if not raw:
        raw = summary.get("notes")
    if isinstance(raw, str):
        notes = [raw]
    elif isinstance(raw, (list, tuple)):
        notes = [answer_text(n) for n in raw if answer_text(n).strip()]
    else:
        notes = []
    return answers, notes


def summary_items(
    summary: Mapping[str, Any] | None,
    *,
    skip: Sequence[str] = (),
    labels: Mapping[str, Mapping[str, str]] | None = None,
) -> list[tuple[str, str]]:
    """(question, answer) in words for each answered summary question, known ones first.

    ``labels`` (from :func:`bot.flows.guided.scripts.answer_labels`) turns a stored option value
    into the words the professional chose ("dont_know" -> "Don't know").
    """
    answers, _ = summary_parts(summary)
    known = [k for k in SUMMARY_LABELS if k in answers]
    others = [k for k in answers if k not in SUMMARY_LABELS]
    out: list[tuple[str, str]] = []
    for key in known + others:
        if key in skip or key in SUMMARY_SKIP or str(key).startswith("_"):
            continue
        raw = answers.get(key)
        words = (labels or {}).get(key, {})
        if words and isinstance(raw, (str, list, tuple)):
            raw = [words.get(str(v), v) for v in raw] if not isinstance(raw, str) else (
                words.get(raw, raw))
        value = answer_text(raw).strip()
        if not value:
            continue
        if _OPTION_VALUE.match(value):
            value = humanize(value).capitalize()  # a stored option value such as "not_offered"
        out.append((SUMMARY_LABELS.get(key) or humanize(str(key)).capitalize(), value))
    return out


def category_words(values: Sequence[Any] | None) -> str:
    """Categories in their census words ("Housing / financial"), never their keys."""
    items = [CATEGORIES.get(str(v), humanize(str(v))) for v in values or () if str(v).strip()]
    return ", ".join(items) if items else "—"


def consent_words(status: str | None) -> str:
    """A referral's consent status in words."""
    return CONSENT_LABELS.get(status or "", humanize(status or ""))


def age_band_words(policy: Policy, key: str | None) -> str:
    """An age band as the professional chose it ("Unborn", "5–10"), or "Not given"."""
    label = answer_labels(policy).get("age_band", {}).get(key or "", humanize(key or ""))
    return label or "Not given"


def referral_kind_words(kind: str | None) -> str:
    """What kind of referral a card is about."""
    return "Urgent (safety gate)" if kind == "urgent" else "Referral checklist"


def clock_lines(states: Sequence[ClockState], *, closed: bool,
                at: Callable[[datetime], str]) -> list[str]:
    """A card's clocks as its "Clock" field says them (``at``: the platform's way of
    drawing a time that stays true), one line each."""
    if closed:
        return ["Stopped (closed)"]
    lines = [f"{clock_label(c.clock)}: {c.words(at)}" for c in states]
    if all(c.met_at is not None for c in states):
        lines.append("No clock running")
    return lines


def caf_lead_due(ep: CafEpisode, today: date, bold: Callable[[str], str]) -> str:
    """When a lead professional's CAF meets next, as their Home says it."""
    due = ep.next_meeting_due
    which = ("first family planning meeting" if caf_first(ep)
             else "next Team Around the Child meeting")
    if due is None:
        return f"No date set for the {which}"
    if due < today:
        late = (today - due).days
        return (f"The {which} is overdue: it was due by {bold(day(due))} "
                f"({late} day{'s' if late != 1 else ''} ago)")
    return f"The {which} is due by {bold(day(due))}"


def home_item_said(item: Mapping[str, Any], outcome: str) -> str:
    """What a Home item (``bot.flows.overview``) says of its outcome; ``outcome`` as the
    platform draws it."""
    if not item.get("outcome"):
        return "Not decided yet"
    if item.get("suggested"):  # the bot's suggestion: a person has not decided it
        return f"Suggested: {outcome} (not yet advised)"
    if str(item.get("kind")) == "consultation":
        return f"Advice: {outcome}"
    return f"Decision: {outcome}"


def ordinal(n: int) -> str:
    """"second", "third" … then "7th", "21st"."""
    words = {2: "second", 3: "third", 4: "fourth", 5: "fifth", 6: "sixth"}
    if n in words:
        return words[n]
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def next_step_key(rating: str | None, summary: Mapping[str, Any] | None,
                  caf_episode_id: int | None) -> str | None:
    """The NEXT_STEPS key: the rating, except Green for a child with an open CAF."""
    answers, _ = summary_parts(summary)
    open_caf = caf_episode_id is not None or answers.get("open_caf") == "yes"
    return "continue_caf" if rating == "green" and open_caf else rating


def advice_next_step(outcome: str | None, policy: Policy, reference: str) -> str | None:
    """What the professional should do next for the advice ``outcome`` (None: nothing more)."""
    phones = policy.phones
    return {
        "urgent_referral": f"Call the front door now on {phones.front_door}. If a child is "
        f"in immediate danger, call {phones.emergency}.",
        "referral": "Make a referral: use /refer for the checklist, and add the child's "
        "identifying details only in the secure referral form, quoting "
        f"{reference}.",
        "early_help": "Talk to the family about an Early Help Assessment: it needs their consent."
        + (f" The early help team: {phones.early_help}." if phones.early_help else ""),
        "continue_caf": "Tell the CAF's lead professional about these worries, so that the family "
        "plan is strengthened; the next team around the family meeting may be brought forward.",
        "lado": "Contact the LADO (allegations against people who work with children) today.",
    }.get(outcome or "")


# --- the guided flow -------------------------------------------------------------------

NO_NAMES_HELP = (
    "Please answer again without names, dates of birth, addresses, postcodes, phone numbers, "
    "e-mail addresses, NHS or NI numbers, or a named school with a class."
)
RESTART = "You can start again at any time with /consult or /refer."
TYPE_HERE = "Type your answer as a message here."
NOT_SAVED = "That answer has not been saved or shared with anyone."
CANCEL_TEXT = "Your answers so far will be discarded and nothing will be sent."
EXPIRED = "This conversation timed out without an answer, so nothing has been sent."
CANCELLED = "Cancelled: nothing has been sent to the front door."
REDIRECTED = "This isn't something the front door can take."
REDIRECTED_AGAIN = ("If you also have a safeguarding concern about a child, start again with "
                    "/consult or /refer.")
ONLY_A_SUGGESTION = "The duty advisor decides the advice; this is only a suggestion."
NOT_A_DECISION = "a suggestion from the answers, not a decision"
INFO_NO_NAMES = ("Please answer without names, dates of birth, addresses or other details that "
                 "could identify a child.")


_YESNO = (Option("yes", "Yes"), Option("no", "No"))


def prompt_options(prompt: Prompt) -> tuple[Option, ...]:
    """A question's choices (Yes / No for a yes-no question without its own)."""
    if prompt.kind == Kind.YESNO and not prompt.options:
        return _YESNO
    return prompt.options


def answer_value(answer: Any) -> str | None:
    """A stored single answer as an option value (``True`` -> ``"yes"``)."""
    if answer is None:
        return None
    if isinstance(answer, bool):
        return "yes" if answer else "no"
    return str(answer)


def previous_words(prompt: Prompt, answer: Any) -> str:
    """An answer in words: option labels where there are options."""
    labels = {o.value: o.label for o in prompt_options(prompt)}
    if isinstance(answer, (list, tuple, set)):
        return ", ".join(labels.get(str(a), str(a)) for a in answer)
    value = answer_value(answer) or ""
    return labels.get(value, value)


def iso_date(answer: Any) -> str | None:
    """A stored date answer as ``YYYY-MM-DD`` (None when it is no date)."""
    if isinstance(answer, datetime):
        return answer.date().isoformat()
    if isinstance(answer, date):
        return answer.isoformat()
    if isinstance(answer, str):
        try:
            return date.fromisoformat(answer.strip()).isoformat()
        except ValueError:
            return None
    return None


def clock_within(policy: Policy, clock: str) -> str:
    """How long a clock allows, in words ("24 hours", "3 working days"); "" if unknown."""
    try:
        spec = policy.clock(clock)
    except AttributeError:
        return ""
    return human_duration(spec.duration, spec.basis)


def flow_name(kind: str | None) -> str:
    """What a flow is called."""
    return {"consult": "No-names consultation", "refer": "Referral checklist"}.get(
        kind or "", "Front Door"
    )


def flow_what(kind: str | None) -> str:
    """The flow as the thing being cancelled ("Cancel this consultation?")."""
    return "consultation" if kind == "consult" else "referral checklist"


# --- CAF ---------------------------------------------------------------------------------

CAF_NO_NAMES = "No names or other details that could identify a child or family."

NO_LEAD_STEPS: tuple[tuple[str, str], ...] = (
    ("link_worker", "The CAF link worker (co-ordinator) helps the team around the family find a "
     "lead professional: someone the family already knows, or has chosen."),
    ("panel", "Still none: the family help team manager takes it to the Transforming Lives "
     "Panel, to ask whether any agency can be the lead professional."),
    ("step_down", "Still none: the family help team manager adds a case note that no agency "
     "will take the role; the social worker, the family and every agency are told, and the "
     "child steps down to universal services (close the CAF: stepped down)."),
)


def day(d: date | None) -> str:
    """``Tue 22 Dec 2026`` (or "not set")."""
    return f"{d:%a} {d.day} {d:%b %Y}" if d else "not set"


def weeks(td: timedelta) -> str:
    """A cadence in words: "4 weeks", "12 months" for a year, else days."""
    days = td.days
    if days and days % 364 == 0 and days // 364 <= 5:
        n = days // 364
        return f"{12 * n} months"
    if days and days % 365 == 0:
        return f"{12 * (days // 365)} months"
    if days and days % 7 == 0:
        n = days // 7
        return f"{n} week" + ("s" if n != 1 else "")
    return f"{days} day" + ("s" if days != 1 else "")


def caf_first(ep: CafEpisode) -> bool:
    """Whether no family planning meeting has been held yet."""
    return ep.last_meeting_on is None


def caf_role(ep: CafEpisode, user: str) -> str:
    """What ``user`` is to the CAF: "the lead professional and the co-ordinator"."""
    roles = []
    if user == ep.lead_user_id:
        roles.append("the lead professional")
    if user == ep.coordinator_user_id:
        roles.append("the co-ordinator")
    return " and ".join(roles) or "involved"


def caf_cadence(ep: CafEpisode, policy: Policy) -> str:
    """When meetings fall due: "within 6 weeks of the CAF being completed on …", "every
    12 weeks; the last was held on …" (and what it was rearranged from)."""
    caf = policy.caf
    if caf_first(ep) and ep.plan_agreed_on is not None:  # quality assured: from agreement
        text = (f"within {weeks(caf.first_meeting_within)} of a CAF manager agreeing the plan "
                f"on {day(ep.plan_agreed_on)}")
        planned = ep.plan_agreed_on + caf.first_meeting_within
    elif caf_first(ep):
        text = (f"within {weeks(caf.first_meeting_within)} of the CAF being completed on "
                f"{day(ep.completed_on)}")
        planned = ep.completed_on + caf.first_meeting_within
    else:
        text = (f"every {weeks(caf.meeting_interval)}; the last was held on "
                f"{day(ep.last_meeting_on)}")
        planned = (ep.last_meeting_on or ep.completed_on) + caf.meeting_interval
    if ep.next_meeting_due and ep.next_meeting_due != planned:
        text = f"rearranged from {day(planned)}; {text}"
    return text


def caf_tac_headline(ep: CafEpisode, nudge: int, escalated: str) -> str:
    """What an overdue-TAC nudge is: the first, a repeat (its number), or an escalation."""
    which = "first family planning meeting" if caf_first(ep) else "Team Around the Child meeting"
    if escalated:
        return f"the {which} is still overdue: escalated after {nudge - 1} reminders"
    if nudge > 1:
        return f"the {which} is still overdue (reminder {nudge})"
    return f"the {which} is overdue"


def caf_tac_repeat(nudge: int, late_days: int, escalated: str) -> str:
    """A repeat says it is one and how long the meeting has been overdue; an escalation
    says who is asked to act ("" for the first nudge)."""
    late = weeks(timedelta(days=late_days))
    if escalated == "coordinator":
        return (f"The meeting has been overdue for {late} and {nudge - 1} reminders to the "
                "lead professional have had no answer. As the co-ordinator, please follow it "
                "up with them, or record the meeting here.")
    if escalated == "channel":
        return (f"The meeting has been overdue for {late} and {nudge - 1} reminders have had "
                "no answer. The co-ordinator is asked to follow it up.")
    if nudge > 1:
        return (f"This is a repeat (reminder {nudge}): the meeting has been overdue for {late} "
                "and is not recorded yet.")
    return ""


def days_ago(n: int) -> str:
    """``26 days ago``, ``1 day ago``."""
    return f"{n} day{'s' if n != 1 else ''} ago"


def caf_overdue_line(ep: CafEpisode, late_days: int, bold: Callable[[str], str]) -> str:
    """After an "Overdue" label: which meeting, due when, how long ago."""
    which = "first family planning meeting" if caf_first(ep) else "Team Around the Child meeting"
    return (f"the {which} was due by {bold(day(ep.next_meeting_due))} ({days_ago(late_days)}) "
            "and is not recorded yet.")


def caf_closed_line(ep: CafEpisode, policy: Policy, reasons: Mapping[str, str]) -> str:
    """After a "Closed" label: when, and why in the words of ``reasons``."""
    why = reasons.get(ep.close_reason or "", ep.close_reason or "")
    when = f" on {day(ep.closed_at.astimezone(policy.tz).date())}" if ep.closed_at else ""
    return when + (f": {why}" if why else "") + "."


def caf_list_when(ep: CafEpisode, overdue: bool, late_days: int) -> str:
    """A listed CAF's next meeting: "due by Tue 8 Dec 2026", after "overdue: " if it is."""
    return (f"due by {day(ep.next_meeting_due)} ({days_ago(late_days)})" if overdue
            else f"next meeting due by {day(ep.next_meeting_due)}")


def caf_list_head(total: int, overdue: int) -> str:
    """After a list's title: how many, how many overdue, in what order."""
    return f"{total}" + (f", {overdue} overdue" if overdue else "") + ", overdue first"


def caf_due_line(ep: CafEpisode, policy: Policy, bold: Callable[[str], str]) -> str:
    """"The first family planning meeting is due by <b>Tue 13 Oct 2026</b> (…)", with a
    renderer's ``bold``."""
    which = "first" if caf_first(ep) else "next"
    if ep.next_meeting_due is None and ep.qa_status in ("awaiting", "returned"):
        return (f"The first family planning meeting will be due within "
                f"{weeks(policy.caf.first_meeting_within)} of a CAF manager agreeing the plan "
                "(quality assurance of the assessment).")
    return (f"The {which} family planning meeting is due by {bold(day(ep.next_meeting_due))} "
            f"({caf_cadence(ep, policy)}).")


def panel_item(episode_id: int | None) -> str:
    """The anonymous panel item's number (the bot's own id, meaningless outside the CAF team)."""
    return f"P-{episode_id}"


# --- no-names: where a finding is, never what it is ---------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_NTH = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
        "tenth")


def _nth(i: int) -> str:
    return _NTH[i] if i < len(_NTH) else ordinal(i + 1)


def finding_place(text: str, start: int, kind_label: str) -> str:
    """Where a finding is, in words that never quote it: "a name in your second sentence,
    word 3" (for chats kept under the council's retention, where the found text must not
    be repeated). ``start`` is the finding's offset in ``text``."""
    start = max(0, min(start, len(text)))
    bounds = [0] + [m.end() for m in _SENTENCE_END.finditer(text) if m.end() < len(text)]
    index = max(i for i, b in enumerate(bounds) if b <= start)
    word = len(text[bounds[index]:start].split()) + 1
    where = "your answer" if len(bounds) == 1 else f"your {_nth(index)} sentence"
    return f"{kind_label} in {where}, word {word}"


# --- a triage card's headline (the same on every platform) -------------------------------


def is_decided(card: TriageCard) -> bool:
    """Whether a manager has decided the card's rating."""
    return card.rating is not None or card.status == "decided"


def card_rating(card: TriageCard) -> str | None:
    """The rating a card shows: the decision, else the suggestion."""
    return card.rating if is_decided(card) and card.rating else card.suggested_rating


def card_title(card: TriageCard, policy: Policy) -> str:
    """"FD-2026-000123 — Suggested: Amber (child in need)" (or Rating:, or Closed (…))."""
    name = rating_name(policy, card_rating(card))
    if card.status == "closed":
        return f"{card.reference} — Closed ({name})"
    if is_decided(card):
        return f"{card.reference} — Rating: {name}"
    return f"{card.reference} — Suggested: {name}"


def card_said(card: TriageCard, policy: Policy) -> str:
    """A card in one line, for notifications."""
    if card.status == "closed":
        return f"{card.reference}: closed"
    said = (f"{card.reference}: {'Rating' if is_decided(card) else 'Suggested'} "
            f"{rating_name(policy, card_rating(card))}")
    return said + (" (SLA breached)" if card.breached else "")


def rating_change(card: TriageCard, last: Decision | None) -> tuple[Decision | None, str | None]:
    """(the decision that changed the rating, the rating it was changed from): the newest
    decision when it was a change; for a card drawn without its decisions, the suggestion."""
    changed = last if last is not None and last.action == "change" else None
    if changed is not None:
        return changed, changed.old_rating  # the rating it had, or the suggestion
    if card.rating not in (None, card.suggested_rating):
        return None, card.suggested_rating
    return None, None


def consultation_said(c: Consultation) -> str:
    """A consultation card in one line, for notifications."""
    if c.advice_outcome:
        return f"Consultation {c.reference}: advice given"
    return f"Consultation {c.reference}: suggested {outcome_label(c.suggested_outcome)}"


def outcome_said(card: TriageCard, policy: Policy) -> str:
    """The referrer's outcome message in one line."""
    if card.status == "closed":
        return f"{card.reference}: closed" + (
            f" ({rating_name(policy, card.rating)})" if card.rating else " without a rating")
    return f"{card.reference}: {rating_name(policy, card.rating)}"


# --- sentences the cards say on every platform -----------------------------------------

CAF_TAC_ASK = (
    "Has it happened? Record it, or the date it is rearranged to. If the plan is stuck, ask for "
    "help: it goes to the co-ordinator, then the CAF social worker or the CAF Support Panel."
)
CAF_REASSESS_WHAT = (
    "If the family plan's actions are not all met and the CAF is still needed, the lead "
    "professional completes a reassessment with contributions from the team around the family. If"
    " the plan is complete, close the CAF with a final family planning meeting."
)
CAF_LINKED_WHAT = (
    "New worries below the statutory threshold: continue the CAF and strengthen the family plan "
    "to reflect any extra support needed. If it should not wait, rearrange the next meeting to an"
    " earlier date."
)
CAF_PANEL_ANONYMOUS = (
    "A stuck CAF that the CAF team could not resolve. The family has not consented to their "
    "information being shared, so it is presented without any detail that could identify them."
)
CAF_PANEL_PRESENT = (
    "A stuck CAF that the CAF team could not resolve. The lead professional is invited to present"
    " it."
)
CARD_CLOSE_CONFIRM = "The card is closed and its clocks stop. You will be asked for a reason."
ADVICE_WAITING = "Waiting for the professional to say whether they follow it."
