"""Tests for the no-names guard (bot/nonames.py).

All people in these tests are invented: first names and surnames are combined at random and
refer to no one. Phone numbers use Ofcom's drama ranges, e-mails use example.* domains, and NHS
and NI numbers are made up (valid-checksum numbers were generated, not copied).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.nonames import KIND_LABELS, Finding, describe, redact, scan

DATA = Path(__file__).parent / "data"
# dev and messy are gated (the rules were built looking at both); third and fourth were
# written by people who did not see the rules, and are only reported: the honest figures.
GATED = ("nonames_dev.jsonl", "nonames_messy.jsonl")
REPORTED = ("nonames_third.jsonl", "nonames_fourth.jsonl")
RECALL_MIN = 0.98  # either tier overlapping the identifier
REFUSED_MAX = 0.01  # clean rows refused
ASKED_MAX = 0.05  # clean rows asked about


def _overlaps(findings: list[Finding], start: int, end: int) -> bool:
    return any(f.start < end and start < f.end for f in findings)


def _kinds_over(text: str, fragment: str) -> set[str]:
    """Kinds of the findings that overlap the first occurrence of ``fragment``."""
    start = text.index(fragment)
    end = start + len(fragment)
    return {f.kind for f in scan(text) if f.start < end and start < f.end}


# --------------------------------------------------------------------------------------------
# Corpus figures
# --------------------------------------------------------------------------------------------


@dataclass
class Figures:
    """Recall by identifier kind, and what became of the clean rows."""

    found: Counter[str] = field(default_factory=Counter)
    total: Counter[str] = field(default_factory=Counter)
    clean: int = 0
    refused: int = 0
    asked: int = 0
    misses: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)

    def add(self, row: dict) -> None:
        text: str = row["text"]
        findings = scan(text)
        idents = row["identifiers"]
        if not idents:
            self.clean += 1
            if any(not f.confirm for f in findings):
                self.refused += 1
            elif findings:
                self.asked += 1
            if findings:
                self.false_alarms.append(f"{text!r} -> {describe(text, findings)}")
            return
        for ident, kind in zip(idents, row.get("kinds") or ["any"] * len(idents), strict=True):
            start = text.find(ident)
            assert start != -1, f"corpus identifier {ident!r} not in its text"
            self.total[kind] += 1
            if _overlaps(findings, start, start + len(ident)):
                self.found[kind] += 1
            else:
                self.misses.append(f"{ident!r} ({kind}) in {text!r}")

    @property
    def recall(self) -> float:
        return sum(self.found.values()) / max(1, sum(self.total.values()))

    def line(self, name: str) -> str:
        kinds = ", ".join(f"{k} {self.found[k]}/{n}" for k, n in sorted(self.total.items()))
        return (
            f"[nonames] {name}: recall {sum(self.found.values())}/{sum(self.total.values())} "
            f"= {self.recall:.3f}; clean rows refused {self.refused}/{self.clean} = "
            f"{self.refused / max(1, self.clean):.3f}, asked {self.asked}/{self.clean} = "
            f"{self.asked / max(1, self.clean):.3f}\n    by kind: {kinds}"
        )


def _figures(*names: str) -> Figures:
    figures = Figures()
    for name in names:
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                figures.add(json.loads(line))
    return figures


def test_corpus_figures(capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        for name in GATED + REPORTED:
            print("\n" + _figures(name).line(name))
    gated = _figures(*GATED)
    with capsys.disabled():
        print(gated.line("dev + messy (gated)"))
    detail = "\nmisses:\n  " + "\n  ".join(gated.misses) + "\nfalse alarms:\n  " + (
        "\n  ".join(gated.false_alarms)
    )
    assert gated.recall >= RECALL_MIN, f"recall {gated.recall:.3f} < {RECALL_MIN}{detail}"
    assert gated.refused / gated.clean <= REFUSED_MAX, f"clean rows refused{detail}"
    assert gated.asked / gated.clean <= ASKED_MAX, f"clean rows asked{detail}"


# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Zorya said she burnt her hand on the cooker.", "Zorya"),  # not in the lexicon
        ("Brannagh is 9 and often arrives without a coat.", "Brannagh"),
        ("Kayden is 7 and says there is no food at home.", "Kayden"),  # sentence start
        ("We are worried about Tamsin, who has been self-harming.", "Tamsin"),
        ("Ffion's mum has asked us not to contact Dad.", "Ffion"),  # possessive
        ("Tilly-Mae (4) was collected late by an adult no one knew.", "Tilly-Mae"),  # hyphenated
        ("Dad (Gethin) says he will engage with Early Help.", "Gethin"),
        ("Her teacher, Mrs Thistlewood, noticed marks on her arms.", "Thistlewood"),  # title
        ("Mr Oyelaran-Birch has refused to let staff see the baby.", "Oyelaran-Birch"),
        ("Baby Zennor was born at 32 weeks and is still on the unit.", "Zennor"),  # Baby + name
        ("The boy told staff that Uncle Bamidele hits him.", "Bamidele"),
        ("She said 'I stay at Nanny Pat's at weekends.'", "Pat"),  # word-name after kin word
        ("An older man known locally as 'Ghostie' gives him money.", "Ghostie"),  # nickname
        ("the boy is called jaxon and hes in year 4", "jaxon"),  # lower-case text
        ("spoke to mum, she said mason has been wetting the bed", "mason"),
        ("His brother Will has been excluded for fighting.", "Will"),  # word-name with cue
        ("Grace Pemberton-Lowe, aged 12, has stopped eating at school.", "Grace Pemberton-Lowe"),
        ("Jade is living with her boyfriend, who is 22.", "Jade"),
        ("Summer's dad has moved back into the family home.", "Summer"),
        ("The Abernethy family have been evicted from their flat.", "Abernethy"),  # surname
        ("Dad said that Dean is there most nights and shouts at the children.", "Dean"),
        ("Ruby (6) told her teacher she was left alone overnight.", "Ruby"),
        ("Santino Ferreira-Holt has missed every session since January.", "Santino Ferreira-Holt"),
        ("Elif Yıldırımoğlu told her teacher she is frightened to go home.", "Elif Yıldırımoğlu"),
        ("Mrs. Okonjo-Reyes said the baby is feeding well.", "Okonjo-Reyes"),  # title with "."
        ("His street name is Dreamz and he carries for older boys.", "Dreamz"),
        ("Summer, who is 7, has bruises on both arms.", "Summer"),
        ("Dad has not seen Milan since the court hearing.", "Milan"),  # word-name as object
        ("KYLA IS 7 AND SAYS MUM HITS HER.", "KYLA"),  # written in capitals
        ("I spoke to Zorya's mum at pick-up today.", "Zorya"),
    ],
)
def test_names_found(text: str, name: str) -> None:
    assert "name" in _kinds_over(text, name), describe(text, scan(text))


@pytest.mark.parametrize(
    "text",
    [
        "Mum and Dad separated last year and Stepdad now lives at the house.",
        "Nan has been helping out since Christmas, and Grandad does the school run.",
        "The Police, the NHS and the DWP have all been in contact with the family.",
        "He is known to CAMHS and to the Youth Offending Service in Huntingdon.",
        "The incident happened on Monday and was reported to the MASH on Tuesday.",
        "Will the family be told who made the referral?",  # "Will" as a verb
        "May I ask whether we need consent from both parents?",
        "Hope is fading that Dad will engage with the plan.",
        "Mark my words, Dad said, you will regret this.",
        "Bill payments are behind and the family have no heating.",
        "Is this Amber or Red? I think Amber.",
        "Sunny days are hard because the boys want to go out.",
        "She rose early to get her brothers ready for school.",
        "Summer holidays are coming and free school meals stop.",
        "Faith is important to the family and they attend church on Sundays.",
        "The family moved from Peterborough to Camden in April.",
        "He has Maths, English and Science on Thursdays and hates PE.",
        "The young person is 16 and Gillick competent.",
        "Diwali and Eid both fell in half-term this year.",
        "The Kurdish family next door have raised concerns about shouting.",
        "Baby Bank delivered a cot last week; Mum went to Baby Massage once.",
        "He has been selling charlie for older lads and has a new phone.",  # drug slang
        "mum has ms and uses a wheelchair, she says the kids help her",
        "She is placed with Foster Carers out of area.",
        "The children said Santa would not come this year.",
    ],
)
def test_no_false_names(text: str) -> None:
    assert scan(text) == [], describe(text, scan(text))


# --------------------------------------------------------------------------------------------
# Structured identifiers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment", "kind"),
    [
        ("NHS number 943 476 5919, seen with a bruise.", "943 476 5919", "nhs_number"),
        ("Her number is 9434765919 according to the GP.", "9434765919", "nhs_number"),
        ("NHS no. 943 476 5918 (may be wrong) is on the form.", "943 476 5918", "nhs_number"),
        ("Mum's mobile is 07700 900 461.", "07700 900 461", "phone"),
        ("Call Dad on +44 7700 900123 after 5.", "+44 7700 900123", "phone"),
        ("Landline (01632) 960 555.", "(01632) 960 555", "phone"),
        ("Nan's number 0161-496-0000 is on file.", "0161-496-0000", "phone"),
        ("Email her at tanith.k@example.org please.", "tanith.k@example.org", "email"),
        ("NI number AB 12 34 56 C was on the form.", "AB 12 34 56 C", "ni_number"),
        ("Dad's NI is JK123456D.", "JK123456D", "ni_number"),
        ("The specimen QQ 12 34 56 A was typed in.", "QQ 12 34 56 A", "ni_number"),
        ("Postcode: CB1 2AB.", "CB1 2AB", "postcode"),
        ("They have moved to nw12db last week.", "nw12db", "postcode"),
        ("Address: 41 Linden Grove, Wisbech.", "41 Linden Grove", "address"),
        ("They live at Flat 2, Marlow House, near the park.", "Flat 2, Marlow House", "address"),
        ("The family live on Halford Crescent with Nan.", "Halford Crescent", "address"),
        ("She is in Year 4 at St Wendreda's Primary.", "St Wendreda's Primary", "school_class"),
        ("He attends Larkrise Academy, Year 9.", "Larkrise Academy", "school_class"),
        ("She is in the Ladybirds room at Little Wrens Nursery.", "Little Wrens Nursery",
         "school_class"),
        ("DOB 03/04/2015, seen with a fracture.", "03/04/2015", "date_of_birth"),
        ("She was born on 3 April 2015 in Leeds.", "3 April 2015", "date_of_birth"),
        ("date of birth: 2015-04-03.", "2015-04-03", "date_of_birth"),
        ("Tobiah (d.o.b. 4.1.12) disclosed abuse.", "4.1.12", "date_of_birth"),
        ("Her birthday is 5th June and she will be 9.", "5th June", "date_of_birth"),
        ("Orrin Vance, 12/07/2013, has been missing since Friday.", "12/07/2013",
         "date_of_birth"),
    ],
)
def test_structured_found(text: str, fragment: str, kind: str) -> None:
    assert kind in _kinds_over(text, fragment), describe(text, scan(text))


@pytest.mark.parametrize(
    "text",
    [
        "The reference number is 9434765918 on the old system.",  # fails the NHS checksum
        "Case 1234567890 was closed last year.",
        "The incident happened on 9 April and police attended.",  # an event date, not a DOB
        "On 02/03/2026 she disclosed to the school nurse.",
        "The strategy meeting is booked for 21 April 2026.",
        "A 7 year old, aged 7, in Year 2, has been smacked with a slipper.",  # ages and years
        "She is in Year 2 and in Reception last year she struggled.",  # no named school
        "He goes to a local secondary school and is in Year 9.",
        "Free School Meals stopped and the Virtual School Head is involved.",
        "Call Childline on 0800 1111 or 999 in an emergency.",
        "Our reference is FD-2026-000123 and crime ref 42/118734/26.",
        "The boy walked 3 miles down the lane in the dark.",
        "He was on the M11 at 4am with two adults.",
        "Police ref 2026-0412-0387: officers attended at 23:40.",
    ],
)
def test_structured_negatives(text: str) -> None:
    assert scan(text) == [], describe(text, scan(text))


def test_nhs_checksum_valid_vs_invalid() -> None:
    valid = "Number 943 476 5919 on the letter."
    invalid = "Number 943 476 5918 on the letter."
    assert [f.kind for f in scan(valid)] == ["nhs_number"]
    assert scan(invalid) == []


def test_dob_versus_event_date_in_one_sentence() -> None:
    text = "On 02/03/2026 Tobiah (d.o.b. 04.01.12) disclosed that his father hit him."
    kinds = {text[f.start : f.end]: f.kind for f in scan(text)}
    assert kinds.get("04.01.12") == "date_of_birth"
    assert "02/03/2026" not in kinds


def test_two_dobs_in_one_labelled_clause() -> None:
    text = "Both are on a CIN plan; Roxanna was born 19.02.2018 and Caspian 03.10.2020."
    kinds = _kinds_over(text, "03.10.2020")
    assert kinds == {"date_of_birth"}


# --------------------------------------------------------------------------------------------
# describe / redact / labels
# --------------------------------------------------------------------------------------------


def test_describe_and_redact() -> None:
    text = "Kyla's NHS number is 943 476 5919 and Mum's mobile is 07700 900 461."
    findings = scan(text)
    assert [f.kind for f in findings] == ["name", "nhs_number", "phone"]
    assert describe(text, findings) == [
        'a name: "Kyla"',
        'an NHS number: "943 476 5919"',
        'a phone number: "07700 900 461"',
    ]
    assert redact(text, findings) == (
        "[name removed]'s NHS number is [nhs_number removed] and Mum's mobile is "
        "[phone removed]."
    )


def test_kind_labels_cover_every_kind() -> None:
    assert set(KIND_LABELS) == {
        "name", "date_of_birth", "address", "postcode", "phone", "email", "nhs_number",
        "ni_number", "school_class",
    }
    text = (
        "Kyla Holt, DOB 03/04/2015, 4 Elm Road, CB1 2AB, 07700 900 461, a.b@example.com, "
        "NHS 943 476 5919, NI AB 12 34 56 C, Year 4 at Fenwold Primary."
    )
    assert {f.kind for f in scan(text)} == set(KIND_LABELS)


def test_empty_and_clean_text() -> None:
    assert scan("") == []
    assert describe("", []) == []
    assert redact("nothing here", []) == "nothing here"


# --------------------------------------------------------------------------------------------
# Properties: bounds, order, no overlap, never raises, linear-ish on big input
# --------------------------------------------------------------------------------------------


def _check_invariants(text: str, findings: list[Finding]) -> None:
    last_end = 0
    for f in findings:
        assert 0 <= f.start < f.end <= len(text)
        assert f.start >= last_end  # sorted and non-overlapping
        assert f.kind in KIND_LABELS
        last_end = f.end


_SNIPPETS = [
    "Kyla", "Mr ", "Mrs O'", "Baby ", " born ", "DOB ", "d.o.b. ", "NHS ", "07700 ",
    "+44 ", "943 476 5919", "AB 12 34 56 C", "CB1 2AB", "Flat 3, ", "12 ", " Road", "@",
    "example.com", "St ", "'s ", " Primary", " Academy", "Year 4", "(", ")", ". ", "; ",
    "\n", "-", "/", "3/4/15", " called ", " known as '", "Will ", "May ", "ı", "é", "’",
]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_scan_arbitrary_unicode(text: str) -> None:
    _check_invariants(text, scan(text))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_SNIPPETS), st.text(max_size=5)), max_size=40))
def test_scan_identifier_soup(parts: list[str]) -> None:
    text = "".join(parts)
    findings = scan(text)
    _check_invariants(text, findings)
    redacted = redact(text, findings)
    assert isinstance(redacted, str)
    assert len(describe(text, findings)) <= len(findings)


@pytest.mark.parametrize(
    "unit",
    [
        "a",
        "Kyla ",
        "1",
        "1 ",
        "a.",
        "a@",
        "@a.",
        "Aa ",
        "St ",
        "Mr Mr ",
        "Flat 1, ",
        "0",
        "+44 ",
        "d.o.b. 1/1/11 ",
        "Tom's ",
        "é",
        " ",
        "\n",
        "AB 12 ",
        "Year 4 at Oak ",
        "known as '",
    ],
)
def test_scan_huge_input_finishes(unit: str) -> None:
    # ~100k characters of a repeated pattern: catastrophic backtracking would never finish.
    text = unit * (100_000 // len(unit))
    _check_invariants(text, scan(text))


# --------------------------------------------------------------------------------------------
# Two tiers: refused (certain) and asked (uncertain)
# --------------------------------------------------------------------------------------------


def _tier_over(text: str, fragment: str) -> set[str]:
    """"refuse"/"ask" for the findings overlapping ``fragment``."""
    start = text.index(fragment)
    end = start + len(fragment)
    return {"ask" if f.confirm else "refuse" for f in scan(text) if f.start < end and start < f.end}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        # dates of birth in the forms people type, with their labels
        ("dob 030914, lives with nan", "030914"),
        ("born 21.04.2011 at home", "21.04.2011"),
        ("d.o.b 2015/04/22", "2015/04/22"),
        ("DOB 11-Sep-2018", "11-Sep-2018"),
        ("b. 15/6/14 and on a cp plan", "15/6/14"),
        ("born 7 Oct 2010 in hospital", "7 Oct 2010"),
        ("her bday is 3 sept 2014", "3 sept 2014"),
        ("dob 29th feb 2012", "29th feb 2012"),
        # phones and e-mails as typed
        ("dad rang from 447700900266 again", "447700900266"),
        ("mum on +44 (0)7700 900318", "+44 (0)7700 900318"),
        ("nan's mobile 7700900266", "7700900266"),
        ("dads email is lazy_dave85 at example dot com", "lazy_dave85 at example dot com"),
        # streets, flats and blocks in lower case
        ("they live at 12 mill road now", "12 mill road"),
        ("mum moved to flat 21, kingfisher tower", "flat 21, kingfisher tower"),
        ("no. 19 cowper st, the green door", "no. 19 cowper st"),
        ("12b wren parade, above the shop", "12b wren parade"),
        ("staying with his mates on larkspur cres", "larkspur cres"),
        ("4 elm gdns is where they stay", "4 elm gdns"),
        # schools and settings in lower case
        ("she is at sandpit lane primary in y4", "sandpit lane primary"),
        ("yr 9 at thornbury high", "thornbury high"),
        ("both at st swithun's juniors", "st swithun's juniors"),
        ("the little one goes to willows nursery", "willows nursery"),
        ("the dsl at ashdown community college rang", "ashdown community college"),
        # names in capitals, with accents, initials, nicknames after a cue
        ("SHANNON QUIGLEY was seen on the estate", "SHANNON QUIGLEY"),
        ("JAYDEN SMITH comes to youth club hungry", "JAYDEN SMITH"),
        ("marisol ramírez is 9 and mum works nights", "marisol"),
        ("TJ said his stepdad hits him", "TJ"),
        ("spoke to J. Smith at pick-up", "J. Smith"),
        ("c.j. told staff nobody was home", "c.j."),
        ("we call him bubba at the club", "bubba"),
        ("he is known as smudge round here", "smudge"),
        ("the older lad goes by dizzy", "dizzy"),
    ],
)
def test_refused(text: str, fragment: str) -> None:
    assert "refuse" in _tier_over(text, fragment), describe(text, scan(text))


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("destiny came in today in the same clothes", "destiny"),
        ("phoenix keeps telling staff mums boyfriend hurts the dog", "phoenix"),
        ("preston has been missing school on mondays", "preston"),
        ("brooklyn says dad shouts at night", "brooklyn"),
        ("worried about blessing, she has marks on her legs", "blessing"),
        ("spoke to oyelowo-brandt about the bruises", "oyelowo-brandt"),  # in no dictionary
        ("KX was crying at the gate", "KX"),  # an unknown short token in capitals
        ("the form says 14/03/2017 at the top", "14/03/2017"),  # a date that may be a birthday
    ],
)
def test_asked(text: str, word: str) -> None:
    tiers = _tier_over(text, word)
    assert tiers, describe(text, scan(text))
    assert "ask" in tiers or "refuse" in tiers


@pytest.mark.parametrize(
    "text",
    [
        "theres no food, dont know why, im worried, ive tried, youre right",
        "she has a jack russell and a staffy that snapped at the baby",
        "they celebrate eid and diwali, and christmas with nan",
        "it happened on monday in may, or was it june",
        "the dsl, the senco and the hv all agree",
        "Mum, Dad and Nan were at the meeting with the social worker",
        "camhs, the ehcp, mash and the tac are all involved",
        "will he be safe going home tonight",
        "i really hope things settle now",
        "summer holidays are a worry as they lose free school meals",
    ],
)
def test_clean_stays_clean(text: str) -> None:
    assert scan(text) == [], describe(text, scan(text))


def test_certain_wins_over_uncertain() -> None:
    text = "AMELIA JONES (destiny to her mates) is 9"
    findings = scan(text)
    assert {text[f.start : f.end]: f.confirm for f in findings}["AMELIA JONES"] is False


def test_a_typing_slip_is_not_asked_about_but_a_rare_word_is() -> None:
    assert scan("we recieved a call becuase she was definately upset") == []
    [finding] = scan("spoke to oyelowo-brandt today")
    assert finding.confirm


def test_the_services_vocabulary_holds_no_name() -> None:
    """A word in vocabulary.txt is never a name anywhere, so a name must not be in it."""
    from bot import nonames

    both = {w for w in nonames._VOCABULARY if w in nonames._GIVEN}
    # Service words that some lexicon also lists as a rare given name.
    assert both <= {"easter", "esa", "imam", "imo", "min", "nicu", "offie", "ota", "theres",
                    "yer"}, sorted(both)
