"""No-names guard: find details that could identify a child in free text.

A "no-names consultation" lets a professional describe a worry without saying who the child
is. Before the bot accepts a question it runs :func:`scan`; any finding makes the bot show the
professional (privately) what looked identifying, via :func:`describe`, and ask again.

Everything here is pure Python, offline and deterministic: regular expressions (compiled at
import) for the structured identifiers, and a given-name lexicon plus context rules for names.
The lexicon and word lists live in ``bot/data/`` (see the headers of those files).

Design notes, in brief:

* Precision matters as much as recall: a false alarm makes the bot refuse a perfectly good
  question, so every rule asks for evidence rather than "any capitalised word".
* Structured identifiers (e-mail, NHS and NI numbers, phones, postcodes, dates of birth,
  addresses, named schools) win over names when spans overlap.
* All patterns are anchored with look-behinds so that the engine only tries a match at the
  start of a run of characters; none has nested unbounded repetition, so scanning stays linear.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["KIND_LABELS", "Finding", "describe", "redact", "scan"]

KIND_LABELS: dict[str, str] = {
    "name": "a name",
    "date_of_birth": "a date of birth",
    "address": "a street address",
    "postcode": "a postcode",
    "phone": "a phone number",
    "email": "an email address",
    "nhs_number": "an NHS number",
    "ni_number": "a National Insurance number",
    "school_class": "a named school or setting",
}

# When two candidate spans overlap, the kind listed first wins (then the longer span).
_PRIORITY = (
    "email",
    "nhs_number",
    "ni_number",
    "phone",
    "postcode",
    "date_of_birth",
    "address",
    "school_class",
    "name",
)
_RANK = {kind: i for i, kind in enumerate(_PRIORITY)}


@dataclass(frozen=True)
class Finding:
    """One identifying span: ``text[start:end]`` is an identifier of the given ``kind``.

    ``confirm`` False: certain, the answer is refused. True: uncertain (a word that is also a
    name, a word in no dictionary, a date that may be a birthday): the professional is asked
    privately whether it could identify the child before anything is stored.
    """

    start: int
    end: int
    kind: str
    confirm: bool = False


# --------------------------------------------------------------------------------------------
# Word lists
# --------------------------------------------------------------------------------------------

_DATA = Path(__file__).with_name("data")

# Name classes. PLAIN: a given name and nothing else ("Kyra"). WEAK: also an ordinary word
# ("Ruby", "Jade", "Mason"): needs light context. STRONG: a very common word, place or festival
# ("Will", "May", "Hope", "Camden"): needs strong context such as "Mr", "called" or a surname.
_PLAIN, _WEAK, _STRONG = 0, 1, 2


def _read_words(name: str) -> list[str]:
    """Return the whitespace-separated words of a data file, skipping ``#`` comment lines."""
    words: list[str] = []
    with (_DATA / name).open(encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith("#"):
                words.extend(line.split())
    return words


def _load_given_names() -> dict[str, int]:
    """Load ``given_names.txt`` into ``{lower-cased name: class}`` (strictest class wins)."""
    marks = {"?": _WEAK, "!": _STRONG}
    names: dict[str, int] = {}
    with (_DATA / "given_names.txt").open(encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if not parts or line.startswith("#"):
                continue
            cls = marks.get(parts[1], _PLAIN) if len(parts) > 1 else _PLAIN
            key = parts[0].casefold()
            names[key] = max(cls, names.get(key, _PLAIN))
    return names


_GIVEN: dict[str, int] = _load_given_names()
_POSSESSIVE_WORD = re.compile(r"['’]s$")
_NOT_NAMES: frozenset[str] = frozenset(
    _POSSESSIVE_WORD.sub("", w.casefold()) for w in _read_words("not_names.txt")
)
_COMMON: frozenset[str] = frozenset(_read_words("common_words.txt"))
# Every word a dictionary or the service knows; a word outside it is "unknown" and asked about.
# The service's own words (camhs, theres, staffy): never a name, never unknown.
_VOCABULARY: frozenset[str] = frozenset(_read_words("vocabulary.txt"))
_KNOWN: frozenset[str] = (
    frozenset(_read_words("dictionary.txt")) | _VOCABULARY | _COMMON | _NOT_NAMES
)

_TITLES = frozenset("mr mrs ms miss mx dr master prof".split())
# A full stop after these ends an abbreviation, not a sentence.
_NOT_SENTENCE_END = _TITLES | {"st", "no", "eg", "ie", "e.g", "i.e"}
# Words that, placed right before a capitalised word, say "this is a person's name".
_KIN_PREFIX = frozenset(
    """baby son daughter brother sister stepbrother stepsister stepson stepdaughter pupil
    student child nephew niece cousin grandson granddaughter uncle aunt auntie aunty nan nanny
    nana nanna gran granny grandma grandad granddad grandpa stepdad stepmum stepfather
    stepmother friend boyfriend girlfriend partner husband wife sibling twin mum mummy dad
    daddy mother father carer""".split()
)
# Verbs whose object is usually a person: "has not seen Milan since", "Dad hit Summer".
_PERSON_OBJECT_VERBS = frozenset(
    """seen saw see sees seeing told tell tells asked asks met meets collected collects brought
    brings hit hits hurt hurts kicked kicks punched slapped smacked pushed grabbed texted
    messaged phoned contacted emailed reminded watched interviewed threatened threatens
    groomed abused bullied bullies assaulted protect protects protected love loves""".split()
)
# Verbs that only a person does: an unknown capitalised word before one is a name ("Zorya said").
_HUMAN_VERBS = frozenset(
    """said says told tells disclosed discloses cried cries screamed shouted refused refuses
    denied denies admitted admits explained explains wants wanted loves hates likes""".split()
)
_AGE_AFTER = re.compile(r"\s+(?:is|was|turned|turns)\s+(?:\d{1,2}|aged|nearly|almost|only)\b")
# "the Okafor family": a capitalised word before these is a surname.
_FAMILY_NOUNS = frozenset(
    "family families children kids household twins boys girls brothers sisters siblings".split()
)
# "Summer's mum", "Will's school": a possessive before these belongs to a person.
_PERSONAL_NOUNS = frozenset(
    """mum mummy mam mom mother dad daddy father parents parent nan nana nanny gran granny
    grandma grandad grandmother grandfather uncle aunt auntie aunty brother brothers sister
    sisters sibling siblings cousin stepdad stepmum partner boyfriend girlfriend carer carers
    school teacher teachers class classroom nursery friend friends house home bedroom behaviour
    attendance weight health needs diagnosis birthday social worker keyworker""".split()
)
# After these a plain name is more likely a place ("in Brent", "near Kyra"?): need a possessive.
_LOCATIVE_PREPS = frozenset("in at near into outside around across via".split())
_DETERMINERS = frozenset(
    "the a an this these those his her its our their my your some any no every each".split()
)
# Before a place, month or thing rather than a person: "in May", "from Jordan", "of Hope".
_PLACE_PREPS = frozenset(
    """in at from near into across around outside via of on since until till by during before
    after between last next early late mid""".split()
)
# Verbs that typically follow a person's name in a referral ("Kyra says", "Dean is").
_PERSON_VERBS = frozenset(
    """is was has had says said told tells tell disclosed discloses reported reports lives lived
    attends attended goes went came comes does did doesn't didn't isn't wasn't hasn't hadn't
    can can't cannot could couldn't would wouldn't will won't should shouldn't needs needed
    wants wanted likes liked loves loved hates hated refuses refused seems seemed appears
    appeared looks looked stays stayed sleeps slept spends spent cries cried gets got ran runs
    walked walks arrived arrives left leaves missed misses hit hits shouted screamed became
    becomes took takes kept keeps asked asks explained mentioned shared showed shows stated
    states described denied denies admitted admits agreed knows knew thinks thought feels felt
    turned started stopped began wet wets smells smelt smelled hasn't struggles struggled
    presents presented returned returns moved joined are were have""".split()
)
# Capitalised words after a name that make it a place or institution ("Harvey Road").
_PLACE_NOUNS = frozenset(
    """road rd street st avenue ave close lane drive way court gardens crescent place terrace
    grove walk estate house park station hospital centre center primary academy school college
    nursery church mosque library surgery clinic square hill fields field bridge tower
    towers lodge mansions hall row rise mews parade green common wood heath line club""".split()
)
_GENERIC_SETTING_WORDS = frozenset(
    """the a an local secondary primary high special catholic ce c of e rc church free grammar
    independent private boarding virtual hospital sunday forest summer breakfast after holiday
    faith muslim jewish islamic sikh hindu christian new old big main mainstream community
    village alternative provision home nursery infant infants junior juniors senior upper lower
    middle first early years year sure start pupil referral unit sixth form day her his their
    my our your at in to from and mum dad nan school academy college previous current new old
    other same this that which what pre football rugby cricket dance drama stage theatre music
    art arts boxing martial karate swimming sports sport youth saturday weekend language
    supplementary quran koran arabic polish bible driving beauty hair cadet cadets army fire sea
    air training further higher education medical nursing law business technical technology film
    performing police royal national county city state open kings queens""".split()
)


# --------------------------------------------------------------------------------------------
# Structured identifiers
# --------------------------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.+%-])[\w.+%-]{1,64}+@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?){0,8}\.[A-Za-z]{2,24}(?![\w-])"
)

# A separator inside a phone number: a closing bracket (optionally then a space), or one
# space or dash. Written so each character can be matched one way only (no backtracking blow-up).
_PSEP = r"(?:\)\s?|[ \-])?"
_PHONE = re.compile(
    r"(?<![\w+/.-])(?:"
    rf"(?:\+|00)\s?44\s?(?:\(0\)\s?)?\d(?:{_PSEP}\d){{8,9}}"
    rf"|\(?0\d(?:{_PSEP}\d){{8,9}}"
    r")(?![\w/-]|\.\d)"
)

_NHS = re.compile(r"(?<![\w+/.-])(\d{3})([ -]?)(\d{3})\2(\d{4})(?![\w/-]|\.\d)")
# "NHS", "NHS no.", "NHS number is", "NHS #:" (the label's own full stop is not a sentence end).
_NHS_LABEL = re.compile(
    r"\bNHS\b(?:\s*(?:no|num|number|nos|numbers)\b\.?)?(?:\s*(?:is|are|:|-|#))*", re.IGNORECASE
)

_NINO = re.compile(
    r"(?<![A-Za-z0-9])([A-Za-z]{2})[ -]?(\d{2})[ -]?(\d{2})[ -]?(\d{2})(?:[ -]?([A-Da-d]))?"
    r"(?![A-Za-z0-9])"
)
_NINO_LABEL = re.compile(r"\b(?:NI|NINO|national\s+insurance)\b", re.IGNORECASE)
_NINO_BAD_PREFIX = frozenset({"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"})

# UK postcode areas (the letters before the first digit).
_POSTCODE_AREAS = frozenset(
    """AB AL B BA BB BD BF BH BL BN BR BS BT CA CB CF CH CM CO CR CT CV CW DA DD DE DG DH DL
    DN DT DY E EC EH EN EX FK FY G GL GU GY HA HD HG HP HR HS HU HX IG IM IP IV JE KA KT KW
    KY L LA LD LE LL LN LS LU M ME MK ML N NE NG NN NP NR NW OL OX PA PE PH PL PO PR RG RH
    RM S SA SE SG SK SL SM SN SO SP SR SS ST SW SY TA TD TF TN TQ TR TS TW UB W WA WC WD WF
    WN WR WS WV YO ZE""".split()
)
_POSTCODE = re.compile(
    r"(?<![A-Za-z0-9])([A-Za-z]{1,2})(\d[A-Za-z\d]?) ?(\d[ABD-HJLNP-UW-Zabd-hjlnp-uw-z]{2})"
    r"(?![A-Za-z0-9])"
)

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DATE = re.compile(
    r"(?<![\w/.-])(?:"
    r"(?P<d>\d{1,2})(?P<s>[/.\-])(?P<m>\d{1,2})(?P=s)(?P<y>\d{4}|\d{2})"
    r"|(?P<iy>\d{4})(?P<is>[/.\-])(?P<im>\d{1,2})(?P=is)(?P<id>\d{1,2})"
    rf"|(?P<td>\d{{1,2}})(?:st|nd|rd|th)?(?:\s+of)?(?:\s+|-|/)(?P<tm>{_MONTH})\.?"
    r"(?:(?:,?\s+|-|/)(?P<ty>\d{4}|'?\d{2}))?"
    rf"|(?P<mm>{_MONTH})\.?\s+(?P<md>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<my>\d{{4}}))?"
    r"|(?P<cd>\d{2})(?P<cm>\d{2})(?P<cy>\d{4}|\d{2})"  # 030914, 19112016: only when labelled
    r")(?![\w/]|[.-]\d)",
    re.IGNORECASE,
)
_DOB_LABEL = re.compile(
    r"(?<![A-Za-z])(?:d\.?\s?o\.?\s?b\b\.?|date\s+of\s+birth|birth\s*date|birthday|born"
    r"|b['’/]?days?\b|b\.(?=\s*\d))",
    re.IGNORECASE,
)
# Words that introduce an event date rather than a birth date.
_EVENT_PREPS = frozenset(
    "on since from until till by before after during between at in for last next".split()
)
_EVENT_WORDS = frozenset(
    """seen attended arrived admitted visited came went moved started left happened incident
    meeting unknown not tbc tbd since until from""".split()
)

_STREET_SUFFIX = (
    r"(?:Road|Rd|Street|St|Avenue|Ave|Close|Lane|Ln|Drive|Way|Court|Ct|Gardens|Gdns|Crescent"
    r"|Cres|Place|Pl|Terrace|Tce|Grove|Walk|Rise|Row|Hill|Mews|Square|Sq|Park|Green|View"
    r"|Parade|Mount|Vale|Wharf|Yard|Path|Boulevard|Broadway|End|Fields|Meadows?|Heights|Chase"
    r"|Croft|Gate|Villas|Approach|Quay|Cottages?|Buildings|Mansions|Estate|House|Tower|Towers"
    r"|Lodge|Hall|Manor|Farm|Point|Wharf|Reach|Circus)"
)
_CAP_WORD = r"[A-Z][\w'’-]{0,30}+"
_FLAT = r"(?:Flat|Apartment|Apt|Unit|Room|Maisonette)\s+\d{1,4}[A-Za-z]?,?\s+"
_HOUSE_NO = r"\d{1,4}[A-Za-z]?,?\s+"
_ADDRESS = re.compile(
    rf"(?<![\w/.-])(?:{_FLAT}(?:{_HOUSE_NO})?|{_HOUSE_NO})"
    rf"(?:{_CAP_WORD}\s+){{0,2}}{_CAP_WORD}\s+{_STREET_SUFFIX}\b"
)
# A street without a house number, introduced by an address cue ("lives on Halstow Road").
_ADDRESS_CUE = re.compile(
    r"\b(?:lives|living|live|lived|moved|staying|stays|stay|address\s+is|address:)"
    r"\s+(?:on|in|at|to)?\s*(?:the\s+)?"
    rf"((?:{_CAP_WORD}\s+){{0,2}}{_CAP_WORD}\s+{_STREET_SUFFIX})\b"
)
# Lower-case addresses need a cue, since "3 close friends" is not an address.
_ADDRESS_LOWER = re.compile(
    r"\b(?:at|address(?:\s+is)?:?|lives|living|live|moved\s+to)\s+"
    r"(\d{1,4}[a-z]?,?\s+(?:[a-z][\w'’-]{0,30}+\s+){1,3}"
    r"(?:road|rd|street|avenue|close|lane|drive|way|court|gardens|crescent|place|terrace|grove"
    r"|walk|rise|row|mews|square|estate))\b",
    re.IGNORECASE,
)

_SETTING_TYPE = (
    r"(?:Primary|Infants?|Juniors?|Academy|School|College|Nursery|Pre-?[Ss]chool|Playgroup"
    r"|Children's\s+Centre|Children’s\s+Centre|Pupil\s+Referral\s+Unit|PRU|Sixth\s+Form"
    r"|Kindergarten|Montessori)"
)
_SETTING = re.compile(
    rf"(?<![\w'’-])((?:(?:St\.?|Saint)\s+)?{_CAP_WORD}"
    rf"(?:\s+(?:(?:of|the|and|&|on|upon|in|de|le)\s+)?{_CAP_WORD}){{0,4}}?)"
    rf"\s+{_SETTING_TYPE}\b(?:\s+(?:School|Academy|College|Nursery))?"
)
_SETTING_LOWER = re.compile(
    r"\b(?:at|attends|attend|attending|to|from)\s+"
    r"([a-z][\w'’-]{0,30}+(?:\s+[a-z][\w'’-]{0,30}+){0,2}?)"
    r"\s+(?:primary|academy|school|nursery|college)\b"
)

_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_SENTENCE_END = re.compile(r"[.!?]\s|[.!?]$|\n")
_OPEN_QUOTES = "'\"‘“"
# Cues after which even an ordinary word is a nickname ("known as 'Ghost'").
_NICKNAME_CUE = re.compile(r"known.*as|goes\s+by|sel(?:f|ves)|nick|aka|a\.k\.a|name", re.I)
_AFTER_NAME_INFO = re.compile(
    r"\s*(?:\(\s*(?:\d|aged?\b|dob\b|d\.o\.b|nhs\b|born\b|year\b|yr\b|y\d)"
    r"|,\s*(?:aged?\b|born\b|dob\b|d\.o\.b|nhs\b|year\s+\d|y\d|\d{1,2}\b|who\b))",
    re.IGNORECASE,
)
_CUE_WORD = re.compile(r"known|goes|call|aka|a\.k\.a|nick|name", re.IGNORECASE)
_KNOWN_AS = re.compile(
    r"(?:\bknown(?:\s+\w+){0,2}\s+as|\bgoes\s+by|\bcalls\s+(?:him|her|them)sel(?:f|ves)"
    r"|\baka\b|\ba\.k\.a\.?|\bnick-?name\s+is"
    r"|\b(?:sur|first\s+|last\s+|maiden\s+|middle\s+)?name(?:\s+is|'s|’s|:)"
    r"|\bnamed|\bcalled|\bnicknamed)\s*['\"‘“]?\s*$",
    re.IGNORECASE,
)


def _nhs_checksum_ok(digits: str) -> bool:
    """Return True if a 10-digit string passes the NHS number modulus-11 check."""
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def _same_clause(text: str, start: int, end: int) -> bool:
    """True if ``text[start:end]`` crosses no sentence or clause boundary."""
    gap = text[start:end]
    return ";" not in gap and not _SENTENCE_END.search(gap)


def _find_emails(text: str) -> Iterable[Finding]:
    for m in _EMAIL.finditer(text):
        yield Finding(m.start(), m.end(), "email")


def _find_phones(text: str) -> Iterable[Finding]:
    for m in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if m.group().lstrip("(").startswith(("+", "00")):
            national = digits[4:] if digits.startswith("0044") else digits[2:]
            national = national.removeprefix("0")
            ok = len(national) in (9, 10) and national[0] in "123578"
        else:
            ok = len(digits) in (10, 11) and digits[1] in "123578"
        if ok:
            yield Finding(m.start(), m.end(), "phone")


def _find_nhs(text: str) -> Iterable[Finding]:
    for m in _NHS.finditer(text):
        digits = m.group(1) + m.group(3) + m.group(4)
        if _nhs_checksum_ok(digits):
            yield Finding(m.start(), m.end(), "nhs_number")
            continue
        # A number the writer labels as an NHS number is one, even with a typo in it.
        before = text[max(0, m.start() - 40) : m.start()]
        after = text[m.end() : m.end() + 25]
        labels = list(_NHS_LABEL.finditer(before))
        label_after = _NHS_LABEL.search(after)
        if (labels and _same_clause(before, labels[-1].end(), len(before))) or (
            label_after and _same_clause(after, 0, label_after.start())
        ):
            yield Finding(m.start(), m.end(), "nhs_number")


def _find_ninos(text: str) -> Iterable[Finding]:
    for m in _NINO.finditer(text):
        prefix = m.group(1).upper()
        if prefix != "QQ":  # QQ is HMRC's specimen prefix: people copy it from forms.
            if prefix[0] in "DFIQUV" or prefix[1] in "DFIOQUV" or prefix in _NINO_BAD_PREFIX:
                continue
        if m.group(1) not in (prefix, m.group(1).lower()):
            continue  # "Nw 12 34 56 A": mixed case is prose, not a number someone copied.
        if m.group(5) is None:
            before = text[max(0, m.start() - 40) : m.start()]
            if not _NINO_LABEL.search(before):
                continue
        yield Finding(m.start(), m.end(), "ni_number")


def _find_postcodes(text: str) -> Iterable[Finding]:
    for m in _POSTCODE.finditer(text):
        if m.group(1).upper() not in _POSTCODE_AREAS:
            continue
        inward = m.group(3)
        if inward[1:] in ("am", "pm"):  # "M11 4am" is a road and a time.
            continue
        yield Finding(m.start(), m.end(), "postcode")


def _date_is_valid(m: re.Match[str]) -> bool:
    """Check that a numeric date has a plausible day and month (either order)."""
    if m.group("cd"):
        return 1 <= int(m.group("cd")) <= 31 and 1 <= int(m.group("cm")) <= 12
    if m.group("d"):
        a, b = int(m.group("d")), int(m.group("m"))
        return (1 <= a <= 31 and 1 <= b <= 12) or (1 <= b <= 31 and 1 <= a <= 12)
    if m.group("iy"):
        return 1 <= int(m.group("im")) <= 12 and 1 <= int(m.group("id")) <= 31
    day = m.group("td") or m.group("md")
    return 1 <= int(day) <= 31


def _date_has_year(m: re.Match[str]) -> bool:
    return bool(m.group("y") or m.group("iy") or m.group("ty") or m.group("my") or m.group("cy"))


def _find_dobs(text: str, names: list[Finding]) -> Iterable[Finding]:
    """Dates that are dates of birth: labelled ("DOB", "born"), listed after a labelled date
    ("born 19.02.2018 and Tariq 03.10.2020"), or given right after a person's name ("Kyra
    Smith, 03/04/2015"). Event dates ("on 9 April", "seen 3/4/2024") are not flagged."""
    name_ends = {f.end for f in names}
    last_dob_end = -1
    for m in _DATE.finditer(text):
        if not _date_is_valid(m):
            continue
        start = m.start()
        is_dob = False
        window = text[max(0, start - 80) : start]
        # "b. 15/6/14": the label's look-ahead needs the date's first digit, so search past it.
        labels = [
            lab for lab in _DOB_LABEL.finditer(text, max(0, start - 80), start + 1)
            if lab.end() <= start
        ]
        if labels:
            # (a) the label introduces this date: "DOB: 3/4/15", "born on 3 April 2015",
            #     "date of birth as 2 April 2025" (a few words, no number, no event word).
            gap = text[labels[-1].end() : start]
            words = re.findall(r"[A-Za-z]+", gap.lower())
            is_dob = (
                len(words) <= 4
                and not re.search(r"\d", gap)
                and _same_clause(gap, 0, len(gap))
                and not _EVENT_WORDS.intersection(words)
            )
        compact = bool(m.group("cd"))
        if not is_dob and last_dob_end >= 0 and _date_has_year(m) and not compact:
            # (b) the next item in a list of dates of birth, joined by "and" or a comma.
            gap = text[last_dob_end:start]
            words = re.findall(r"[A-Za-z]+", gap.lower())
            is_dob = (
                len(gap) <= 40
                and len(words) <= 3
                and not re.search(r"\d", gap)
                and _same_clause(gap, 0, len(gap))
                and ("and" in words or "," in gap or "&" in gap)
                and not (words and words[-1] in _EVENT_PREPS)
            )
        if not is_dob and _date_has_year(m) and not compact:
            # (c) a full date right after a name: "Kyra Smith, 03/04/2015", "Kyra (3/4/2015)".
            is_dob = any(
                start - back in name_ends and not text[start - back : start].strip(" ,(")
                for back in range(min(start, 4) + 1)
            )
        if is_dob:
            last_dob_end = m.end()
            yield Finding(start, m.end(), "date_of_birth")
        elif _date_has_year(m) and not compact and not _event_date(window):
            # (d) a full date with nothing saying it is an event: it may be a birthday, so ask.
            yield Finding(start, m.end(), "date_of_birth", confirm=True)


def _event_date(before: str) -> bool:
    """True if the words just before a date make it an event's date ("seen on", "since")."""
    words = re.findall(r"[A-Za-z]+", before.lower())[-3:]
    return bool(_EVENT_PREPS.intersection(words) or _EVENT_WORDS.intersection(words))


def _find_addresses(text: str) -> Iterable[Finding]:
    for m in _ADDRESS.finditer(text):
        yield Finding(m.start(), m.end(), "address")
    for rx in (_ADDRESS_CUE, _ADDRESS_LOWER):
        for m in rx.finditer(text):
            yield Finding(m.start(1), m.end(1), "address")


def _setting_name_ok(words: list[str]) -> bool:
    """A setting is "named" if some word in its name is not a generic school word."""
    return any(_POSSESSIVE_WORD.sub("", w.casefold()) not in _GENERIC_SETTING_WORDS for w in words)


# Words that may precede a setting's name but are not part of it ("The", "At", "Mum").
_LEAD_NOISE = (_GENERIC_SETTING_WORDS | _NOT_NAMES) - {"st", "saint"}


def _find_settings(text: str) -> Iterable[Finding]:
    for m in _SETTING.finditer(text):
        words = m.group(1).split()
        while words and words[0].casefold() in _LEAD_NOISE:
            words = words[1:]
        if not words or not _setting_name_ok(words):
            continue  # "Secondary School", "Free School Meals", "Police Academy"
        start = text.index(words[0], m.start(1))
        yield Finding(start, m.end(), "school_class")
    for m in _SETTING_LOWER.finditer(text):
        words = m.group(1).split()
        if any(w in _COMMON or w in _GENERIC_SETTING_WORDS or w in _NOT_NAMES for w in words):
            continue
        yield Finding(m.start(1), m.end(), "school_class")


# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------


@dataclass
class _Token:
    start: int
    end: int  # end of the word without a possessive "'s"
    word: str  # the word without a possessive "'s"
    key: str  # casefolded word
    possessive: bool
    cap: bool  # Capitalised ("Kyra", "O'Brien"), not ALL CAPS
    upper: bool  # ALL CAPS
    sentence_start: bool
    after_quote: bool  # starts a quotation or follows a colon: capitals there prove little


def _tokens(text: str) -> list[_Token]:
    """Split text into word tokens, noting capitalisation, possessives and sentence starts."""
    out: list[_Token] = []
    prev_end = 0
    prev_word = ""
    for m in _WORD.finditer(text):
        raw = m.group()
        # ['’]s$ ignoring case, without a regex per word (ſ, the long s, is an s to re)
        possessive = len(raw) > 2 and raw[-2] in "'’" and raw[-1] in "sSſ"
        word = raw[:-2] if possessive else raw
        gap = text[prev_end : m.start()]
        stripped = gap.strip()
        after_quote = bool(stripped) and stripped[-1] in _OPEN_QUOTES + ":"
        if not out:
            sentence_start = not stripped or stripped[-1] in ".!?:" or stripped[-1] in _OPEN_QUOTES
        elif "\n" in gap:
            sentence_start = True
        elif stripped and stripped[-1] in _OPEN_QUOTES and (
            len(gap) == 1 or gap[-2].isspace() or gap[-2] in "(:"
        ):
            sentence_start = True  # an opening quote starts a new sentence: "'Mark my words"
        else:
            bare = stripped.rstrip(_OPEN_QUOTES + "([*-•")
            sentence_start = (bool(bare) and bare[-1] in ".!?:"
                              and prev_word.casefold() not in _NOT_SENTENCE_END)
        cap = word[:1].isupper() and not (len(word) > 1 and word.isupper())
        upper = len(word) > 1 and word.isupper()
        out.append(
            _Token(
                m.start(), m.start() + len(word), word, word.casefold(), possessive, cap, upper,
                sentence_start, after_quote,
            )
        )
        prev_end = m.end()
        prev_word = word
    return out


@cache
def _lexicon_class(key: str) -> int | None:
    """Class of a (casefolded) word in the given-name lexicon, with hyphenated forms."""
    if key in _NOT_NAMES or key in _VOCABULARY:
        return None
    cls = _GIVEN.get(key)
    if cls is not None or "-" not in key:
        return cls
    parts = key.split("-")
    # "Layla-Rose", "Ellie-Mae": a double-barrelled first name whose first part is a name.
    first = _GIVEN.get(parts[0])
    if first is not None and first <= _WEAK and all(p not in _NOT_NAMES for p in parts):
        return _PLAIN
    return None


def _is_unknown_word(key: str) -> bool:
    """A word that is neither a common English word nor on the not-a-name list."""
    return key not in _COMMON and key not in _NOT_NAMES and len(key) > 1


def _casual(tokens: list[_Token]) -> bool:
    """True for text typed in lower case ("spoke to mum, she said mason ..."): most sentence
    starts are lower case, so lower-case names cannot be told apart by capitals."""
    if tokens[0].word[:1].islower():
        return True
    starts = [t for t in tokens if t.sentence_start and not t.after_quote]
    lower = sum(1 for t in starts if t.word[:1].islower())
    return len(starts) >= 3 and lower * 2 > len(starts)


def _adjacent(text: str, a: _Token, b: _Token, allow: str = "") -> bool:
    """True if only spaces (and the characters in ``allow``) separate token ``a`` from ``b``."""
    gap = text[a.end + (2 if a.possessive else 0) : b.start]
    if gap == " ":  # by far the most common gap
        return True
    return len(gap) <= 4 and all(c == " " or c in allow for c in gap) and "\n" not in gap


def _find_names(
    text: str, blocked: list[tuple[int, int]], toks: list[_Token] | None = None
) -> list[Finding]:
    """Find personal names: a lexicon of given names plus context rules (see module notes)."""
    toks = _tokens(text) if toks is None else toks
    if not toks:
        return []
    casual = _casual(toks)
    # Mark tokens already covered by structured identifiers; they are not names.
    covered = [False] * len(toks)
    if blocked:
        blocked = sorted(blocked)
        j = 0
        for i, t in enumerate(toks):
            while j < len(blocked) and blocked[j][1] <= t.start:
                j += 1
            if j < len(blocked) and blocked[j][0] < t.end:
                covered[i] = True

    found: list[Finding] = []
    # Every _KNOWN_AS cue holds one of these words: without any, no window can match.
    has_cue = _CUE_WORD.search(text) is not None
    n = len(toks)
    i = 0
    while i < n:
        t = toks[i]
        if covered[i] or len(t.key) < 2 or t.upper:
            i += 1
            continue
        prev = toks[i - 1] if i > 0 and _adjacent(text, toks[i - 1], t, ",(") else None
        prev_key = prev.key if prev else ""
        nxt = toks[i + 1] if i + 1 < n and not covered[i + 1] else None
        nxt_adj = nxt is not None and _adjacent(text, t, nxt)
        cls = _lexicon_class(t.key)
        usable_case = t.cap or (not t.cap and not t.upper and (casual or cls == _PLAIN))

        is_name = False
        # Strong cues work for any word class and for unknown words.
        tprev = toks[i - 1] if i > 0 and _adjacent(text, toks[i - 1], t, ".") else None
        title = (
            tprev is not None
            and tprev.key in _TITLES
            and (tprev.cap or (casual and not tprev.upper))
        )
        if title and t.key not in _NOT_NAMES and (
            t.cap or (casual and (cls is not None or _is_unknown_word(t.key)))
        ):
            is_name = True  # "Mr Okafor", "Mrs O'Brien", "mrs begum" in lower-case text
        elif prev and prev_key in _KIN_PREFIX and (t.cap or (casual and cls == _PLAIN)):
            # "Baby Orla", "Uncle Femi", "Nanny Pat", "mum (bianca)"
            is_name = t.key not in _NOT_NAMES and (cls is not None or _is_unknown_word(t.key))
        if not is_name and has_cue and t.key not in _NOT_NAMES:
            before = text[max(0, t.start - 40) : t.start]
            cue = _KNOWN_AS.search(before)
            if cue:
                quoted = before.rstrip().endswith(tuple(_OPEN_QUOTES))
                if cls is not None and (t.cap or casual or cls == _PLAIN):
                    is_name = True  # "called Steve", "his name is Joseph"
                elif (t.cap or quoted) and (
                    _NICKNAME_CUE.search(cue.group()) or _is_unknown_word(t.key)
                ):
                    is_name = True  # "known locally as 'Smokey'"
        if (
            not is_name
            and t.cap
            and prev_key == "the"
            and nxt_adj
            and nxt is not None
            and nxt.key in _FAMILY_NOUNS
            and t.key not in _NOT_NAMES
            and not re.search(r"(?:ian|ean|ese|ish|ic|i)$", t.key)
        ):
            is_name = True  # "the Okafor family", "the Smith children"
        if (
            not is_name
            and cls is None
            and t.cap
            and len(t.key) >= 3
            and _is_unknown_word(t.key)
            and t.key not in _PLACE_NOUNS
            and prev_key not in _DETERMINERS
            and (
                (nxt_adj and nxt is not None and nxt.key in _HUMAN_VERBS and not t.possessive)
                or (not t.possessive and _AGE_AFTER.match(text, t.end))
            )
        ):
            is_name = True  # a name missing from the lexicon: "Zorya said", "Zorya is 7"
        if (
            not is_name
            and cls is None
            and t.cap
            and t.possessive
            and not t.sentence_start
            and _is_unknown_word(t.key)
            and prev_key not in _DETERMINERS
            and nxt_adj
            and nxt is not None
            and nxt.key in _KIN_PREFIX
        ):
            is_name = True  # "... said Zorya's mum"
        if not is_name and cls is not None and usable_case:
            is_name = _name_by_context(text, toks, i, cls, prev, nxt if nxt_adj else None, casual)

        if not is_name:
            i += 1
            continue
        # Extend over a following surname (and middle name): "Kyle Moreira", "Mei Chen".
        end_i = i
        for _ in range(2):
            k = end_i + 1
            if toks[end_i].possessive or k >= n or covered[k]:
                break
            cand = toks[k]
            if not _adjacent(text, toks[end_i], cand) or not _surname_like(cand, cls):
                break
            end_i = k
        found.append(Finding(t.start, toks[end_i].end, "name"))
        i = end_i + 1
    return found


def _surname_like(tok: _Token, given_cls: int | None) -> bool:
    """Could ``tok`` be a surname right after a given name?"""
    if not tok.cap or len(tok.key) < 2 or tok.key in _NOT_NAMES or tok.key in _PLACE_NOUNS:
        return False
    if given_cls == _STRONG and tok.key in _COMMON and tok.key not in _GIVEN:
        return False  # "May Day", "Hope Street"
    return True


def _name_by_context(
    text: str,
    toks: list[_Token],
    i: int,
    cls: int,
    prev: _Token | None,
    nxt: _Token | None,
    casual: bool,
) -> bool:
    """Decide whether lexicon word ``toks[i]`` is used as a name, given its neighbours."""
    t = toks[i]
    prev_key = prev.key if prev else ""
    after = text[t.end + (2 if t.possessive else 0) :][:40]
    # Part of a place or institution: "St Aidan's", "Harvey Road", "Victoria Station".
    if prev_key in ("st", "saint") or (nxt and nxt.cap and nxt.key in _PLACE_NOUNS):
        return False
    verb_next = nxt is not None and nxt.key in _PERSON_VERBS and not nxt.cap
    info_next = bool(_AFTER_NAME_INFO.match(after))
    surname_next = nxt is not None and t.cap and not t.possessive and _surname_like(nxt, cls)
    after_det = prev_key in _DETERMINERS
    after_prep = prev_key in _PLACE_PREPS
    mid = not t.sentence_start

    if t.possessive and nxt is not None and nxt.key in _PERSONAL_NOUNS and not after_det:
        return t.cap or cls == _PLAIN or casual  # "Summer's mum", "Will's school"
    if cls == _PLAIN:
        if t.cap:
            return not after_det and (prev_key not in _LOCATIVE_PREPS or t.possessive)
        # lower case: only names that are not also words ("warren", "carol"), not "the kyra"
        return len(t.key) >= 3 and not after_det and t.key not in _COMMON

    if not t.cap:
        # Lower-case words that are also English words: only in casual text, with a verb.
        return casual and cls == _WEAK and verb_next and not after_det and not after_prep

    if surname_next:
        return True  # "Grace Achterberg", "Poppy Ward"
    if nxt is not None and nxt.cap and nxt.key in _NOT_NAMES:
        return False  # a title or service: "Foster Carers", "Amber Plan"
    if info_next and not after_det and not after_prep:
        return True  # "Ruby (4)", "Jade, 14,"
    if t.possessive and mid and not after_det and not after_prep:
        return True  # "Ruby's mum"
    if verb_next and mid and not after_det and not after_prep:
        return True  # "... when Dean is there"
    if prev_key in _PERSON_OBJECT_VERBS and mid and not (nxt is not None and nxt.cap):
        return True  # "has not seen Milan since", "Dad hit Summer"
    if cls == _WEAK:
        if t.sentence_start:
            return verb_next or t.possessive  # "Jade is living ..." but not "Sunny days"
        return not after_det and not after_prep
    return False


# --------------------------------------------------------------------------------------------
# Text typed the way practitioners type: lower case, shorthand, capitals, initials
# --------------------------------------------------------------------------------------------

# Words that never start or make up a street's, a school's or a nickname's own name.
_FUNCTION_WORDS = frozenset(
    """a an the and or but nor so yet if then than that this these those there here his her
    hers him he she it its they them their theirs we us our you your yours i me my mine who
    whom whose which what when where why how all any some no not every each both either
    neither few many much more most other another such same own very really quite too also
    just only even still again ever never always often usually sometimes well much to of in
    on at by for from with without into onto upon about above below over under after before
    between through during since until till near off out up down around round across along
    behind beyond inside outside within is are was were be been being am has have had do does
    did will would shall should can could may might must as like unlike per via vs is""".split()
)
# Time and quantity words: "a 4 hour drive", "10 minute walk", "the 3 bed house" are not streets.
_QUANTITY_WORDS = frozenset(
    """minute minutes min mins hour hours hr hrs day days week weeks wk wks month months year
    years yr yrs mile miles metre metres meter meters km bed beds bedroom bedrooms storey
    storeys star stars times time main high busy next new old wrong right
    back front top bottom side short long quick slow nice lovely same little big""".split()
)
_MAIN_ROADS = frozenset({"high", "main"})  # "88 high st" is an address, "on the high st" is not
_STREET_WORDS = (
    r"(?:road|rd|street|st|avenue|ave|lane|ln|crescent|cres|gardens|gdns|terrace|terr|tce|mews"
    r"|parade|wharf|grove|drive|dr|court|ct|close|place|pl|square|sq|walk|wlk|way|row|rise|hill"
    r"|green|view|park|tower|towers|lodge|heights|estate|mansions|boulevard|broadway|circus)"
)
# A street name is a word or two that a determiner or pronoun does not start.
_NAME_WORD = r"[^\W\d_][\w'’-]{0,30}+"
_ADDRESS_ANY = re.compile(
    r"(?<![\w/.-])(?:(?:no|number)\.?\s*)?\d{1,4}[a-z]?,?\s+"
    rf"((?:{_NAME_WORD}\s+){{1,3}}?){_STREET_WORDS}\b(?!['’-])",
    re.IGNORECASE,
)
# Without a house number, a street needs a preposition before it: "lives on caxton ave".
_ADDRESS_ON = re.compile(
    r"\b(?:on|off|along|down|up|near|round|opposite|of)\s+"
    rf"((?:{_NAME_WORD}\s+){{1,2}}?)"
    r"(?:road|rd|street|st|avenue|ave|lane|ln|crescent|cres|gardens|gdns|terrace|terr|tce|mews"
    r"|parade|grove|drive|dr|close|ct|sq|wlk)\b(?!['’-])",
    re.IGNORECASE,
)
_BUILDING_WORDS = (
    r"(?:court|ct|tower|towers|house|wharf|lodge|point|heights|mansions|buildings|block|place"
    r"|view|gardens|gdns|close|parade|walk|row|apartments|flats)"
)
_FLAT = re.compile(
    r"\b(?:flat|apartment|apt|maisonette)\s+(?:no\.?\s*)?\d{1,4}[a-z]?\b"
    rf"(?:,?\s+(?:{_NAME_WORD}\s+){{0,2}}?{_BUILDING_WORDS}\b)?",
    re.IGNORECASE,
)
_SCHOOL_TYPES = (
    r"(?:primary|infants?|juniors?|academy|nursery|college|high|grammar|pre[- ]?school"
    r"|preschool|school|sixth\s+form|pru)"
)
_SCHOOL_ANY = re.compile(
    rf"(?<![\w'’-])((?:{_NAME_WORD}\s+){{1,3}}?)(?P<type>{_SCHOOL_TYPES})\b(?!['’-])"
    r"(?!\s+(?:meals?|run|runs|uniform|trips?|holidays?|gates?|bus|nurse|counsellor|work"
    r"|days?|hours|places?|age|office|reports?|staff|term|friends?|dinners?|lunch|shoes|bag"
    r"|photos?|event|play|report|transport|taxi|fees|years?)\b)",
    re.IGNORECASE,
)
# Words before a setting type that are not its name: "goes to school", "hates school".
_SCHOOL_STOP = _FUNCTION_WORDS | _QUANTITY_WORDS | frozenset(
    """go goes going went gone get gets got getting attend attends attending attended hate
    hates hated love loves loved like likes miss misses missed missing skip skips skipping
    bunk bunking start starts started leave leaves left leaving change changed changing move
    moved moving walk walks walked run runs ran drop dropped dropping pick picked collect
    collected late early home back off school schools mum mums dad dads nan nans brother
    brothers sister sisters mate mates friend friends kids childs child his her their local
    secondary special mainstream independent private boarding faith catholic rc ce church
    state free sunday saturday forest summer holiday breakfast after driving dance drama
    football swimming language community previous current primary infant infants junior
    juniors senior nursery academy college high grammar pre secondary sixth form upper lower
    middle first village alternative provision day reception year yr class residential
    virtual hospital home whole entire good bad great lovely nice rough tough small big
    huge new old same different another other local nearest nearby say says said told tell
    from at to in into its it is was only even also because cos coz lose loses lost meals
    arrived arrive arrives coming come comes came sent send""".split()
) | _GENERIC_SETTING_WORDS
# Setting words that stand inside a setting's name ("ashcroft community college").
_SETTING_SOFT = frozenset(
    """community rc ce catholic church cofe faith infant junior primary academy high grammar
    secondary special village c e""".split()
)
# "at st josephs", "both at st francis": a saint's name after a lower-case "st".
_SAINT = re.compile(r"(?<![\w'’-])(?:st\.?|saint)\s+([^\W\d_][\w'’]{1,30}+)", re.IGNORECASE)
_EMAIL_SPOKEN = re.compile(
    r"(?<![\w.+%-])[\w.+%-]{2,64}+\s*(?:\bat\b|\(at\)|\[at\])\s*[A-Za-z0-9-]{2,63}+"
    r"(?:\s*(?:\bdot\b|\(dot\)|\[dot\])\s*[A-Za-z]{2,24}+"
    r"|\.(?:com|co\.uk|org\.uk|org|net|uk|ac\.uk|gov\.uk|nhs\.net|io)\b)"
    r"(?:\s*(?:\bdot\b|\.)\s*[A-Za-z]{2,6}+\b){0,2}",
    re.IGNORECASE,
)
# Phone numbers typed without "+" or the leading 0: 447700900266, 7700 900266.
_PHONE_BARE = re.compile(
    r"(?<![\w+/.-])(?:44[ -]?[1-35789]\d{2}[ -]?\d{3}[ -]?\d{3,4}|7\d{3}[ -]?\d{3}[ -]?\d{3})"
    r"(?![\w/-]|\.\d)"
)
# Initials: "J.B.", "c.j.", "J. Smith" (not "e.g.", "a.m.", "d.o.b.").
_DOTTED_INITIALS = re.compile(r"(?<![\w.])[A-Za-z]\.\s?[A-Za-z]\.(?:\s?[A-Za-z]\.)?(?![\w])")
_NOT_INITIALS = frozenset(
    "e.g. i.e. a.m. p.m. n.b. p.s. u.k. u.s. a.k.a. d.o.b. r.e. o.k. b.c. a.d. q.v.".split()
)
_INITIAL_SURNAME = re.compile(r"(?<![\w.])[A-Z]\.\s?[A-Z][a-z'’-]{1,30}+")
_INITIALS_CUE = re.compile(r"\binitials?\s*(?:are|is|of|:|-)?\s*([A-Za-z]{1,3}\b\.?)", re.I)
# Nicknames after a cue, in any case: "we call him bubba", "goes by smokey", "known as lil t".
_NICK_CUE = re.compile(
    r"\b(?:(?:call|calls|called|calling)\s+(?:him|her|them|me|it|the\s+(?:baby|boy|girl|kid|"
    r"child|little\s+one))|known(?:\s+[\w'’]+){0,3}?\s+as|goes\s+by|go\s+by|went\s+by"
    r"|nick-?named|a\.?k\.?a\.?|(?:street|nick)-?\s?name\s+is|(?:his|her|their)\s+name\s+is)"
    r"\s+['\"‘“]?",
    re.IGNORECASE,
)
_NICK_PREFIX = frozenset("lil little big baby young lil' yung".split())
_NICK_STOP = _FUNCTION_WORDS | frozenset(
    """names name well being part someone something somebody anything nothing everyone
    everything usual normal good bad trouble problems problem out over back home police
    social services one ones different""".split()
)
# "princess (what mum calls her)", "tiny (her youngest)": a word the bracket says is a person.
_PAREN_PERSON = re.compile(
    r"\(\s*(?:what\s+[\w\s]{0,20}?call|(?:her|his|their|the)\s+(?:youngest|eldest|oldest"
    r"|middle|little|baby|brother|sister|son|daughter|twin)|nickname|not\s+(?:her|his)\s+real"
    r"|[\w\s]{0,20}?\bname\b)",
    re.IGNORECASE,
)
# Multi-word things whose words are also names: not a person ("jack russell").
_NAME_PHRASES = re.compile(
    r"\b(?:jack\s+russells?|king\s+charles|saint\s+bernards?|st\.?\s+bernards?"
    r"|father\s+christmas|santa\s+claus|royal\s+mail|boxing\s+day|cane\s+corso"
    r"|grace\s+period|dear\s+john|peeping\s+tom|jack\s+daniels?|captain\s+morgan"
    r"|john\s+lewis|marks\s+(?:and|&)\s+spencers?|ronald\s+mcdonald)\b",
    re.IGNORECASE,
)


def _stop_trimmed(words: list[str], stop: frozenset[str]) -> list[str]:
    """The words after the last stop word: "moved to park view" -> ["park", "view"]."""
    keep: list[str] = []
    for w in words:
        key = _POSSESSIVE_WORD.sub("", w.casefold())
        keep = [] if key in stop else [*keep, w]
    return keep


def _find_more_structured(text: str) -> Iterable[Finding]:
    """Refuse-tier identifiers as people type them: lower-case streets, flats and schools,
    spelled e-mail addresses, phone numbers without the 0 or the +."""
    for m in _EMAIL_SPOKEN.finditer(text):
        yield Finding(m.start(), m.end(), "email")
    for m in _PHONE_BARE.finditer(text):
        yield Finding(m.start(), m.end(), "phone")
    for m in _FLAT.finditer(text):
        yield Finding(m.start(), m.end(), "address")
    for m in _ADDRESS_ANY.finditer(text):
        words = m.group(1).split()
        if words and _stop_trimmed(words, _FUNCTION_WORDS | _QUANTITY_WORDS - _MAIN_ROADS) == words:
            yield Finding(m.start(), m.end(), "address")
    for m in _ADDRESS_ON.finditer(text):
        words = m.group(1).split()
        if words and _stop_trimmed(words, _FUNCTION_WORDS | _QUANTITY_WORDS) == words:
            yield Finding(m.start(1), m.end(), "address")
    for m in _SCHOOL_ANY.finditer(text):
        words = _stop_trimmed(m.group(1).split(), _SCHOOL_STOP - _SETTING_SOFT)
        if not words or not _setting_name_ok(words):
            continue
        kind_word = m.group("type").casefold()
        if kind_word in ("school", "high", "college") and all(
            _POSSESSIVE_WORD.sub("", w.casefold()) in _KNOWN for w in words
        ) and len(words) < 2:
            continue  # "hates school", "very high": one ordinary word is not a setting's name
        start = m.start(1) + m.group(1).rindex(words[0]) if len(words) == 1 else (
            text.index(words[0], m.start(1))
        )
        yield Finding(start, m.end(), "school_class")
    for m in _SAINT.finditer(text):
        word = m.group(1)
        key = _POSSESSIVE_WORD.sub("", word.casefold())
        stem = key[:-1] if key.endswith("s") and key[:-1] in _GIVEN else key
        before = text[max(0, m.start() - 12) : m.start()]
        if re.search(r"\d\s*[\w'’-]*\s*$", before):
            continue  # "12 high st ..." is a street, found above
        if stem in _GIVEN or not _is_known(key):
            yield Finding(m.start(), m.end(), "school_class")


_CONTRACTION_TAILS = frozenset("s ll m re ve d t".split())


def _is_known(key: str) -> bool:
    """A casefolded word that a dictionary or the service knows (plurals, parts of
    hyphenated words and possessives included)."""
    if key in _KNOWN:
        return True
    head, apos, tail = key.replace("’", "'").partition("'")
    if apos and tail in _CONTRACTION_TAILS:
        return head in _KNOWN or (tail == "t" and head + "t" in _KNOWN)  # "you'll", "don't"
    key = _POSSESSIVE_WORD.sub("", key)
    if key in _KNOWN or (key.endswith("s") and key[:-1] in _KNOWN):
        return True
    if "-" in key:
        return all(p in _KNOWN or not p for p in key.split("-"))
    return False


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


@cache
def _typo_of_known(key: str) -> bool:
    """A long lower-case word one slip from a dictionary word ("recieved", "becuase") is a
    typing mistake, not a name: no key is asked about for that."""
    if len(key) < 6 or not key.isascii() or not key.isalpha():
        return False
    splits = [(key[:i], key[i:]) for i in range(len(key) + 1)]
    for a, b in splits:
        if b and a + b[1:] in _KNOWN:  # one letter too many
            return True
        if len(b) > 1 and a + b[1] + b[0] + b[2:] in _KNOWN:  # two letters swapped
            return True
        for c in _LETTERS:
            if b and c != b[0] and a + c + b[1:] in _KNOWN:  # one letter wrong
                return True
            if a + c + b in _KNOWN:  # one letter missing
                return True
    return False


def _find_marked_names(text: str) -> Iterable[Finding]:
    """Names the writer marks as names: initials, nicknames after a cue, a word a bracket
    calls a person."""
    for m in _DOTTED_INITIALS.finditer(text):
        if m.group().casefold().replace(" ", "") not in _NOT_INITIALS:
            yield Finding(m.start(), m.end(), "name")
    for m in _INITIAL_SURNAME.finditer(text):
        yield Finding(m.start(), m.end(), "name")
    for m in _INITIALS_CUE.finditer(text):
        yield Finding(m.start(1), m.end(1), "name")
    for m in _NICK_CUE.finditer(text):
        words = list(_WORD.finditer(text, m.end(), min(len(text), m.end() + 40)))
        if not words or words[0].start() != m.end():
            continue
        first = words[0]
        if first.group().casefold() in _NICK_STOP:
            continue
        end = first.end()
        if len(words) > 1 and _adjacent_span(text, first.end(), words[1].start()) and (
            first.group().casefold() in _NICK_PREFIX or len(words[1].group()) == 1
        ):
            end = words[1].end()
        yield Finding(first.start(), end, "name")
    for m in _PAREN_PERSON.finditer(text):
        before = list(_WORD.finditer(text, max(0, m.start() - 30), m.start()))
        if before and not text[before[-1].end() : m.start()].strip():
            word = before[-1]
            if word.group().casefold() not in _FUNCTION_WORDS | _NOT_NAMES:
                yield Finding(word.start(), word.end(), "name")


def _adjacent_span(text: str, end: int, start: int) -> bool:
    return text[end:start] in (" ", "  ")


# --------------------------------------------------------------------------------------------
# The ask tier: words that may be names
# --------------------------------------------------------------------------------------------

# Verbs after a word that make it the subject of a sentence about a person ("storm has been").
# Not modal verbs: "will he be safe", "may need a meeting".
_SLOT_VERBS = frozenset(
    """is was has had says said told tells keeps kept came comes went goes wont cant doesnt
    didnt isnt wasnt hasnt hadnt won't can't doesn't didn't isn't wasn't hasn't likes loves
    hates wants needs gets got lives lived attends attended seems looks cried cries ran runs
    refuses refused disclosed discloses reported reports turned started stopped stays stayed
    sleeps slept spends spent shouted screamed asked explained mentioned denied admitted
    agreed knows thinks feels felt arrived missed misses hit hits keeps isnt""".split()
)
_SLOT_CONJ = frozenset(
    "and but because cos coz when that if so as while whereas said says think thinks".split()
)
_SLOT_BEFORE = frozenset("about re regarding called named including incl".split())
_SPEAK_VERBS = frozenset(
    """spoke speak speaking talk talked talking chat chatted said say says told tell listen
    listened wrote write ring rang phoned texted""".split()
)
_OBJECT_VERBS = _PERSON_OBJECT_VERBS - {"love", "loves", "protect", "protects", "protected"}
_APPOSITION = frozenset("one eldest youngest oldest middle little".split())
_BEFORE_DOB = re.compile(r"\s*[(,]?\s*(?:d\.?\s?o\.?\s?b\b|born\b|b\.\s?\d)", re.I)
_PAREN_INFO = re.compile(r"\s*\(\s*(?:\d|yr|year|y\d|aged?|dob|d\.o\.b)", re.I)
_DIGIT_NEXT = re.compile(r"\s+\d")
_PRONOUN_AGE = re.compile(r",\s*(?:she|he)(?:['’]?s|\s+is)\s+\d", re.I)


def _name_slot(text: str, toks: list[_Token], i: int, name_ends: set[int]) -> bool:
    """Is ``toks[i]`` where a person's name would stand ("storm has been excluded",
    "worried about blessing", "her brother king"), rather than an ordinary word's place
    ("the summer", "in may", "hope things settle")?"""
    t = toks[i]
    n = len(toks)
    prev = toks[i - 1] if i > 0 and _adjacent(text, toks[i - 1], t, ",(:") else None
    pk = prev.key if prev else ""
    if pk in _DETERMINERS or pk in _PLACE_PREPS:
        return False
    nxt = toks[i + 1] if i + 1 < n and _adjacent(text, t, toks[i + 1]) else None
    if t.possessive:
        return nxt is not None and nxt.key in _PERSONAL_NOUNS
    gap = text[prev.end : t.start] if prev else ""
    if _BEFORE_DOB.match(text, t.end) or _PRONOUN_AGE.match(text, t.end):
        return True  # "aria dob 3rd jan", "crystal, shes 16"
    if pk in _KIN_PREFIX or pk in _APPOSITION and "," in gap:
        # "her brother king", "mum (leanne)", "the little one, paris"; not "dad will engage"
        pp = toks[i - 2].key if i > 1 else ""
        return t.cap or "(" in gap or "," in gap or pp in _DETERMINERS
    if pk in _SLOT_BEFORE or pk in _OBJECT_VERBS:
        return True
    if pk == "to" and i > 1 and toks[i - 2].key in _SPEAK_VERBS:
        return True
    if pk == "and" and i > 1 and toks[i - 2].end in name_ends:
        return True
    info = _AFTER_NAME_INFO.match(text, t.end)
    if info or text.startswith("(", t.end + 1):
        return bool(info or _PAREN_INFO.match(text, t.end))
    if nxt is None:
        return False
    if nxt.key == "from" and (prev is None or t.sentence_start):
        return True  # "mark from the youth club says"
    if nxt.key in _SLOT_VERBS:
        if nxt.key in ("is", "was") and _lexicon_class(t.key) == _STRONG:
            # "Hope is fading", "Faith is important"; but "star is 4"
            if not _DIGIT_NEXT.match(text, nxt.end):
                return False
        return prev is None or t.sentence_start or pk in _SLOT_CONJ or pk in _NICK_PREFIX
    if nxt.key == "and" and i + 3 < n:
        other, then = toks[i + 2], toks[i + 3]
        if other.key in ("her", "his", "their") and then.key in _KIN_PREFIX:
            return True  # "honey and her brother"
        if (_lexicon_class(other.key) is not None or not _is_known(other.key)) and (
            then.key in _SLOT_VERBS or then.key in ("are", "were")
        ):
            return prev is None or t.sentence_start or pk in _SLOT_CONJ  # "ivy and willow are"
    return False


def _find_uncertain(
    text: str, toks: list[_Token], covered: list[tuple[int, int]], name_ends: set[int]
) -> list[Finding]:
    """Ask-tier findings, and the refuse-tier names only capitals show ("JAYDEN MORRIS").

    A word that is also a name, standing where a name would; a word no dictionary and not
    the service's vocabulary knows; a short token in capitals that is no known acronym.
    """
    out: list[Finding] = []
    spans = sorted(covered)

    def is_covered(t: _Token) -> bool:
        k = bisect.bisect_right(spans, (t.start, 10**9))
        return any(s < t.end and t.start < e for s, e in spans[max(0, k - 2) : k + 1])

    i, n = 0, len(toks)
    while i < n:
        t = toks[i]
        if is_covered(t) or not t.word.isalpha() and "-" not in t.word and "'" not in t.word:
            i += 1
            continue
        key = t.key
        cls = _lexicon_class(key)
        known = _is_known(key)
        caps_pair = (
            i + 1 < n and toks[i + 1].upper and _adjacent(text, t, toks[i + 1])
            and (toks[i + 1].key not in _KNOWN or _lexicon_class(toks[i + 1].key) is not None)
        )
        if t.upper and not known and (
            cls == _PLAIN or cls is not None and caps_pair
            or len(key) <= 3 and _name_slot(text, toks, i, name_ends)
        ):
            # A name typed in capitals ("LOLA", "JAYDEN MORRIS") or initials where a name
            # stands ("AJ said"): certain. Take a following word in capitals as its surname.
            end_i = i
            while end_i + 1 < n and toks[end_i + 1].upper and _adjacent(
                text, toks[end_i], toks[end_i + 1]
            ) and toks[end_i + 1].key not in _KNOWN:
                end_i += 1
            if end_i == i and i + 1 < n and toks[i + 1].upper and _adjacent(
                text, t, toks[i + 1]
            ) and toks[i + 1].key not in _NOT_NAMES and len(toks[i + 1].key) > 2:
                end_i = i + 1  # "JAYDEN MORRIS": a surname that is also a word
            out.append(Finding(t.start, toks[end_i].end, "name"))
            name_ends.add(toks[end_i].end)
            i = end_i + 1
            continue
        if not known and cls is None and (3 <= len(key) <= 40 or t.upper and len(key) == 2) and (
            t.cap and not t.sentence_start or t.upper or not _typo_of_known(key)
        ):
            out.append(Finding(t.start, t.end, "name", confirm=True))
            name_ends.add(t.end)
        elif cls is not None and len(key) >= 2 and _name_slot(text, toks, i, name_ends) or (
            t.sentence_start and not t.possessive and _AGE_AFTER.match(text, t.end)
            and key not in _FUNCTION_WORDS and key not in _NOT_NAMES and key not in _KIN_PREFIX
        ):
            out.append(Finding(t.start, t.end, "name", confirm=True))
            name_ends.add(t.end)
        i += 1
    return out


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def _resolve(candidates: Iterable[Finding]) -> list[Finding]:
    """Keep a non-overlapping subset, preferring higher-priority kinds then longer spans."""
    chosen: list[Finding] = []  # kept sorted by start; never overlapping
    starts: list[int] = []
    for f in sorted(candidates, key=lambda f: (_RANK[f.kind], -(f.end - f.start), f.start)):
        if f.end <= f.start:
            continue
        # Only the neighbours in start order can overlap a new span (chosen never overlap).
        k = bisect.bisect_right(starts, f.start)
        if k > 0 and chosen[k - 1].end > f.start:
            continue
        if k < len(chosen) and chosen[k].start < f.end:
            continue
        chosen.insert(k, f)
        starts.insert(k, f.start)
    return chosen


def _mostly_upper(text: str) -> bool:
    """True if the text is written in capitals ("KYLA IS 7 AND LIVES WITH NAN")."""
    if sum(map(str.isupper, text)) < 10:  # one pass in C: most text stops here, as
        return False  # fewer than 80% of the 12 letters needed can be capitals
    letters = upper = 0
    for ch in text:
        if ch.isalpha():
            letters += 1
            upper += ch.isupper()
    return letters >= 12 and upper >= 0.8 * letters


def scan(text: str) -> list[Finding]:
    """Find identifying details in ``text``.

    Returns findings sorted by start offset and never overlapping. Kinds are the keys of
    :data:`KIND_LABELS`. A finding with ``confirm`` False is certain (refuse the answer);
    with ``confirm`` True it is uncertain (ask the professional). Certain findings win over
    uncertain ones that overlap them. Never raises on any ``str``; runs in roughly linear time.
    """
    if not text:
        return []
    # TEXT TYPED IN CAPITALS: read names as lower-case (casual) text and places as Title Case.
    # Both copies keep every offset, so findings still point into the original text.
    name_text = place_text = text
    if _mostly_upper(text):
        lowered, titled = text.lower(), text.title()
        if len(lowered) == len(text) == len(titled):
            name_text, place_text = lowered, titled
    structured: list[Finding] = []
    structured += _find_emails(text)
    structured += _find_nhs(text)
    structured += _find_ninos(text)
    structured += _find_phones(text)
    structured += _find_postcodes(text)
    structured += _find_addresses(place_text)
    structured += _find_settings(place_text)
    structured += _find_more_structured(text)
    # Words inside identifiers, dates ("12th April") or things named after people
    # ("jack russell") are not names.
    blocked = [(f.start, f.end) for f in structured]
    blocked += [(m.start(), m.end()) for m in _DATE.finditer(text)]
    blocked += [(m.start(), m.end()) for m in _NAME_PHRASES.finditer(text)]
    toks = _tokens(name_text)
    names = _find_names(name_text, blocked, toks) + list(_find_marked_names(text))
    name_ends = {f.end for f in names}
    uncertain = _find_uncertain(
        name_text, toks, blocked + [(f.start, f.end) for f in names], name_ends
    )
    names += [f for f in uncertain if not f.confirm]
    dobs = list(_find_dobs(text, names + uncertain))
    certain = _resolve([*structured, *names, *(d for d in dobs if not d.confirm)])
    asked = _resolve([
        f for f in [*uncertain, *dobs]
        if f.confirm and not any(c.start < f.end and f.start < c.end for c in certain)
    ])
    return sorted(certain + asked, key=lambda f: f.start)


def describe(text: str, findings: list[Finding]) -> list[str]:
    """Human-readable lines for the professional, e.g. ``'a name: "Kyra"'``.

    Shown only to the person who typed ``text`` so they can see what to remove. Repeated
    identical lines are listed once, in order of first appearance.
    """
    lines: list[str] = []
    for f in findings:
        label = KIND_LABELS.get(f.kind, f.kind)
        snippet = " ".join(text[f.start : f.end].split())
        line = f'{label}: "{snippet}"'
        if line not in lines:
            lines.append(line)
    return lines


def redact(text: str, findings: list[Finding]) -> str:
    """Return ``text`` with each finding replaced by ``[kind removed]`` (e.g. for logs)."""
    out: list[str] = []
    pos = 0
    for f in sorted(findings, key=lambda f: f.start):
        if f.start < pos:
            continue  # overlapping input: keep the first span
        out.append(text[pos : f.start])
        out.append(f"[{f.kind} removed]")
        pos = f.end
    out.append(text[pos:])
    return "".join(out)
