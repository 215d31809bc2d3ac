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
    """One identifying span: ``text[start:end]`` is an identifier of the given ``kind``."""

    start: int
    end: int
    kind: str


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
    r"|(?P<iy>\d{4})-(?P<im>\d{1,2})-(?P<id>\d{1,2})"
    rf"|(?P<td>\d{{1,2}})(?:st|nd|rd|th)?(?:\s+of)?\s+(?P<tm>{_MONTH})\.?"
    r"(?:,?\s+(?P<ty>\d{4}|'\d{2}))?"
    rf"|(?P<mm>{_MONTH})\.?\s+(?P<md>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<my>\d{{4}}))?"
    r")(?![\w/]|[.-]\d)",
    re.IGNORECASE,
)
_DOB_LABEL = re.compile(
    r"(?<![A-Za-z])(?:d\.?\s?o\.?\s?b\b\.?|date\s+of\s+birth|birth\s*date|birthday|born"
    r"|b\.(?=\s*\d))",
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
    if m.group("d"):
        a, b = int(m.group("d")), int(m.group("m"))
        return (1 <= a <= 31 and 1 <= b <= 12) or (1 <= b <= 31 and 1 <= a <= 12)
    if m.group("iy"):
        return 1 <= int(m.group("im")) <= 12 and 1 <= int(m.group("id")) <= 31
    day = m.group("td") or m.group("md")
    return 1 <= int(day) <= 31


def _date_has_year(m: re.Match[str]) -> bool:
    return bool(m.group("y") or m.group("iy") or m.group("ty") or m.group("my"))


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
        labels = list(_DOB_LABEL.finditer(window))
        if labels:
            # (a) the label introduces this date: "DOB: 3/4/15", "born on 3 April 2015",
            #     "date of birth as 2 April 2025" (a few words, no number, no event word).
            gap = window[labels[-1].end() :]
            words = re.findall(r"[A-Za-z]+", gap.lower())
            is_dob = (
                len(words) <= 4
                and not re.search(r"\d", gap)
                and _same_clause(gap, 0, len(gap))
                and not _EVENT_WORDS.intersection(words)
            )
        if not is_dob and last_dob_end >= 0 and _date_has_year(m):
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
        if not is_dob and _date_has_year(m):
            # (c) a full date right after a name: "Kyra Smith, 03/04/2015", "Kyra (3/4/2015)".
            is_dob = any(
                start - back in name_ends and not text[start - back : start].strip(" ,(")
                for back in range(min(start, 4) + 1)
            )
        if is_dob:
            last_dob_end = m.end()
            yield Finding(start, m.end(), "date_of_birth")


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
    if key in _NOT_NAMES:
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


def _find_names(text: str, blocked: list[tuple[int, int]]) -> list[Finding]:
    """Find personal names: a lexicon of given names plus context rules (see module notes)."""
    toks = _tokens(text)
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
    :data:`KIND_LABELS`. Never raises on any ``str``; runs in roughly linear time.
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
    # Words inside identifiers or dates ("12th April") are not names.
    blocked = [(f.start, f.end) for f in structured]
    blocked += [(m.start(), m.end()) for m in _DATE.finditer(text)]
    names = _find_names(name_text, blocked)
    dobs = list(_find_dobs(text, names))
    return _resolve([*structured, *dobs, *names])


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
