"""A whole Front Door story played through the sandbox page in Chromium, like a person would.

``frontdoor sandbox`` (the real bot, SQLite, the default policy) is started in
the test's event loop and driven through the page with Playwright, using
Debian's Chromium (``.ci/run`` installs it; ``playwright install`` cannot
download browsers here). Screenshots of each step are saved under
``test-artifacts/browser-story/``.

The story: a teacher runs ``/consult`` and answers every question (one answer
is refused by the no-names guard); the duty advisor answers the consultation
card; the teacher sees the advice; a health visitor runs ``/refer``; the MASH
manager changes the suggested rating with a reason; the workspace clock moves
past the SLA and the breach shows in the card's thread.

The questions are read off the page (the question block's id is
``q:{flow}:{question}``), so the driver answers whatever the scripts ask: a
chosen answer where the story needs one (``CONSULT``/``REFER``), otherwise the
first choice or a plain sentence.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.config import Settings
from bot.sandbox import demo
from bot.sandbox.ui import WorkspaceClock
from tests.helpers import to_docs

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "browser-story"
CHROMIUM = os.environ.get("FRONTDOOR_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TIMEOUT_MS = 15_000
# The story starts on a Monday morning in term time, whenever the test runs.
STORY_START = datetime(2026, 3, 9, 10, 0, tzinfo=ZoneInfo("Europe/London"))

# Fictional identifying details the no-names guard must refuse.
REFUSED = "Tyler Brookes, NHS 943 476 5919, lives near CB4 1XY and is hungry at school."
CLEAN = "They often arrive hungry and in the same clothes, and seem withdrawn in class."
PLAIN = "Described in general terms here, with no identifying details."

CONSULT: dict[str, Any] = {
    "danger": "no",
    "want": "referral",
    "role": "teacher",
    "agency": "education",
    "age_band": "5-10",
    "categories": ["neglect"],
    "lado": "no",
    "worried": (REFUSED, CLEAN),  # a tuple: answers in turn; a list: a multi-select's values
    "suspended_check": "yes",
    "risks": "Their health and growth could suffer if this goes on.",
    "level": "early_help",
    "why_now": "It has happened most days for three weeks now.",
    "tried": "Breakfast club and a chat with a parent at the school gate.",
    "eha": "not_offered",
    "open_caf": "no",
    "parents_aware": "yes",
    "consent": "given",
    "child_voice": "They say there is often no food at home in the evening.",
    "before": "no",
}
REFER: dict[str, Any] = {
    "danger": "no",
    "ref_type": "concern",
    "phoned": "no",
    "role": "health_visitor",
    "agency": "health",
    "age_band": "0-2",
    "categories": ["neglect"],
    "lado": "no",
    "worried": "The baby has missed checks and seemed underweight at the last visit.",
    "suspended_check": "yes",
    "risks": "Poor weight gain and missed health care could harm the baby's development.",
    "level": "statutory",
    "why_now": "The baby was weighed this week and had lost weight.",
    "tried": "Extra home visits and a referral to the infant feeding team.",
    "eha": "offered",
    "open_caf": "no",
    "parents_aware": "yes",
    "consent": "given",
    "child_voice": "Too young to say; the baby seemed listless at the visit.",
    "parent_voice": "The parent says they are struggling and would like support.",
    "referrer_done": "Spoken to the safeguarding lead and the GP practice.",
    "support_needed": "Help with feeding, money for food and a family support worker.",
}
CHANGED_TO = ("amber_sh", "red")  # the manager's rating: the first that differs from now
REASON = "Police information shared this morning shows a risk of significant harm."
ADVICE = "Offer an Early Help Assessment with the family's consent and keep a food diary."

_SNAPSHOT_JS = """
() => [...document.querySelectorAll('#messages .msg')].map((m) => {
  const q = m.querySelector('.block[data-block-id^="q:"]');
  return {
    ts: m.dataset.ts, user: m.dataset.user || '', ephemeral: m.dataset.ephemeral === 'true',
    q: q ? q.dataset.blockId : null, text: m.innerText.slice(0, 2000),
  };
})
"""
_SIGNATURE_JS = """
() => [...document.querySelectorAll('#messages .msg')]
  .map((m) => m.dataset.ts + ':' + m.innerText.length).join('|')
"""


def _chromium_or_skip() -> None:
    pytest.importorskip("playwright", reason="playwright is in the test extra (.[test])")
    if not Path(CHROMIUM).exists():
        reason = f"Chromium not found at {CHROMIUM}: apt-get install chromium (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI installs it, so missing there is a real failure
        pytest.skip(reason)


@dataclass
class Story:
    """The page being driven and the sandbox behind it."""

    page: Any  # playwright.async_api.Page
    sb: Any  # bot.sandbox.run.Sandbox


@contextlib.asynccontextmanager
async def open_page(url: str) -> AsyncIterator[Any]:
    """Chromium on ``url`` until the page says it is ready; fails on any JavaScript error."""
    from playwright.async_api import async_playwright

    errors: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1440, "height": 960},
                                                locale="en-GB", timezone_id="Europe/London")
            pg = await context.new_page()
            pg.set_default_timeout(TIMEOUT_MS)
            pg.on("pageerror", lambda exc: errors.append(str(exc)))
            await pg.goto(url)
            await pg.wait_for_selector("body[data-ready='true']")
            yield pg
        finally:
            await browser.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


@pytest.fixture
async def story(tmp_path: Path) -> AsyncIterator[Story]:
    """The sandbox (real bot, SQLite, default policy) and a Chromium page on it."""
    _chromium_or_skip()
    from bot.sandbox.run import sandbox

    fresh_folder(ARTIFACTS)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'frontdoor.db'}", port=0)
    clock = WorkspaceClock(offset=STORY_START - datetime.now(UTC))
    async with sandbox(settings, port=0, clock=clock, persist=False) as sb, \
            open_page(sb.url) as pg:
        yield Story(pg, sb)


def fresh_folder(folder: Path) -> Path:
    """An empty folder for this run's screenshots."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


async def shot(page: Any, name: str, folder: Path = ARTIFACTS) -> Path:
    """Save a full-window screenshot as a test artifact."""
    path = folder / f"{name}.png"
    await page.mouse.move(5, 5)  # no hover highlight in the picture
    await page.screenshot(path=str(path))
    return path


# ------------------------------------------------------------------ acting as a person


async def be(story: Story, user: str, channel: str | None = None) -> None:
    """Switch the page to ``user`` and open ``channel`` (default: their DM with the app)."""
    page = story.page
    await page.select_option("#person", user)
    await page.wait_for_function(
        "(u) => document.querySelector('#person').value === u", arg=user)
    target = channel or story.sb.fake.dm_channel(user)
    await page.click(f"#sidebar [data-channel='{target}']")
    await page.wait_for_selector(f"#sidebar [data-channel='{target}'].active")
    await page.wait_for_timeout(200)


async def type_message(page: Any, text: str) -> None:
    """Type into the message box and press Enter."""
    await page.fill("#composer", text)
    await page.press("#composer", "Enter")


async def settle(page: Any, before: str, wait_ms: float = TIMEOUT_MS) -> None:
    """Wait until the channel changes from ``before``, then until it stays still a moment."""
    await page.wait_for_function(f"(b) => ({_SIGNATURE_JS})() !== b", arg=before,
                                 timeout=wait_ms)
    last = None
    for _ in range(40):
        now = await page.evaluate(_SIGNATURE_JS)
        if now == last:
            return
        last = now
        await page.wait_for_timeout(250)


def _is_done(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    for msg in messages:
        if not msg["ephemeral"] and msg["text"] and "Thank you: your" in msg["text"]:
            return msg
    return None


def _off_track(messages: list[dict[str, Any]]) -> str | None:
    for msg in messages[-3:]:
        text = msg["text"]
        if "call 999" in text.lower() or "isn't something the front door can take" in text:
            return text
        if "Something went wrong" in text or "Front Door is busy" in text:
            return text
    return None


async def answer_question(page: Any, block_id: str, wanted: Any) -> str:
    """Answer the question in the block ``block_id`` as a person would; returns how."""
    block = page.locator(f"#messages .msg:not([data-ephemeral]) .block[data-block-id='{block_id}']")
    block = block.last
    multi = block.locator("[data-type='multi_static_select']")
    if await multi.count():
        await multi.locator("summary").click()
        values = wanted if isinstance(wanted, list) else None
        boxes = multi.locator("input[type=checkbox]")
        if values is None:
            await boxes.first.check()
        else:
            for value in values:
                await multi.locator(f"input[data-value='{value}']").check()
        await multi.locator("summary").click()
        await block.locator("[data-action-id='flow.multi_done']").click()
        return f"multi {values or 'first'}"
    date = block.locator("input[type=date]")
    if await date.count():
        await date.fill(wanted if isinstance(wanted, str) else "2026-03-06")
        return "date"
    select = block.locator("select[data-action-id^='flow.answer']")
    if await select.count():
        options = await select.locator("option:not([disabled])").evaluate_all(
            "(os) => os.map((o) => o.value)")
        value = wanted if wanted in options else options[0]
        await select.select_option(value)
        return f"select {value}"
    buttons = block.locator("button[data-action-id^='flow.answer']")
    if await buttons.count():
        values = await buttons.evaluate_all("(bs) => bs.map((b) => b.dataset.value)")
        value = wanted if wanted in values else values[0]
        await block.locator(f"button[data-action-id^='flow.answer'][data-value='{value}']").click()
        return f"button {value}"
    text = wanted if isinstance(wanted, str) else PLAIN
    await type_message(page, text)
    return "typed"


async def play_flow(page: Any, answers: dict[str, Any], name: str) -> tuple[str, list[str]]:
    """Answer every question in the DM until the bot says thank you; returns (reference, ids).

    A tuple of answers for a question is given in turn (the first may be refused).
    """
    given: dict[str, int] = {}
    asked: list[str] = []
    last_key: tuple[str, str] | None = None
    for step in range(60):
        messages = await page.evaluate(_SNAPSHOT_JS)
        done = _is_done(messages)
        if done is not None:
            ref = re.search(r"FD-\d{4}-\d{6}", done["text"])
            assert ref, done["text"]
            return ref.group(0), asked
        wrong = _off_track(messages)
        assert wrong is None, f"the flow went off the story's track: {wrong}"
        questions = [m for m in messages if m["q"] and not m["ephemeral"]]
        assert questions, f"no question in the DM: {[m['text'][:200] for m in messages]}"
        current = questions[-1]
        key = (current["ts"], current["q"])
        qid = current["q"].split(":", 2)[2]
        planned = answers.get(qid)
        turn = given.get(qid, 0)
        wanted = planned[min(turn, len(planned) - 1)] if isinstance(planned, tuple) else planned
        if key == last_key:
            # Still the question just answered: give the bot a moment more.
            await settle(page, await page.evaluate(_SIGNATURE_JS), wait_ms=5_000)
            continue
        if step == 0:
            await shot(page, f"{name}-first-question")
        before = await page.evaluate(_SIGNATURE_JS)
        await answer_question(page, current["q"], wanted)
        given[qid] = turn + 1
        asked.append(qid)
        last_key = key
        await settle(page, before)
        if wanted == REFUSED:
            refusal = page.locator("#messages .msg[data-ephemeral='true']").last
            await refusal.wait_for()
            assert "couldn't accept that answer" in await refusal.inner_text()
            await shot(page, f"{name}-no-names-refusal")
            last_key = None  # the same question is answered again
    raise AssertionError(f"the flow did not finish; answered {asked}")


async def show_top(locator: Any) -> None:
    """Scroll so a (long) message starts at the top of its pane."""
    await locator.evaluate("(node) => node.scrollIntoView({block: 'start'})")


async def card(page: Any, reference: str) -> Any:
    """The message in the open channel that carries ``reference``."""
    found = page.locator("#messages .msg", has_text=reference).first
    await found.wait_for()
    return found


async def find_card_channel(page: Any, reference: str, channels: list[str]) -> str:
    """Open each channel in turn until one shows the card for ``reference``."""
    for channel in channels:
        await page.click(f"#sidebar [data-channel='{channel}']")
        await page.wait_for_selector(f"#sidebar [data-channel='{channel}'].active")
        try:
            await page.locator("#messages .msg", has_text=reference).first.wait_for(timeout=3_000)
            return channel
        except Exception:  # noqa: BLE001 - try the next channel
            continue
    raise AssertionError(f"no card for {reference} in {channels}")


# ------------------------------------------------------------------ the story


async def test_a_whole_story_through_the_page(story: Story) -> None:
    try:
        await play_the_story(story)
    except BaseException:
        with contextlib.suppress(Exception):
            await shot(story.page, "failure")
        raise


async def play_the_story(story: Story) -> None:
    """The issue's story, step by step (screenshots named after the steps)."""
    page, sb = story.page, story.sb
    policy = sb.bot.sv.policy
    consult_channel = policy.channel("consultation_duty")

    # 1. A teacher asks a no-names consultation; one answer is refused by the guard.
    await be(story, demo.TEACHER)
    await type_message(page, "/consult")
    await page.locator("#messages .block[data-block-id^='q:']").first.wait_for()
    consult_ref, asked = await play_flow(page, CONSULT, "01-teacher-consult")
    assert {"danger", "worried"} <= set(asked)
    assert asked.count("worried") == 2, "the refused answer is asked again"
    await shot(page, "02-teacher-consult-recorded")
    # The refused text never reached a channel, the workspace or the database.
    for channel, msgs in sb.fake.messages.items():
        for msg in msgs:
            if msg.get("user") == demo.TEACHER:
                continue  # what the teacher typed in their own DM
            dumped = str(msg)
            assert "Tyler" not in dumped and "943 476 5919" not in dumped, channel

    # 2. The duty advisor answers the consultation card.
    await be(story, demo.ADVISOR, consult_channel)
    consultation = await card(page, consult_ref)
    await consultation.locator("[data-action-id='consult.advise']").click()
    modal = page.locator(".modal[data-callback-id='modal.advice']")
    await modal.wait_for()
    outcome = modal.locator(".block[data-block-id='outcome'] select")
    if await outcome.count() and not await outcome.input_value():
        await outcome.select_option(index=1)
    await modal.locator(".block[data-block-id='advice'] textarea").fill(ADVICE)
    await shot(page, "03-advisor-gives-advice")
    await modal.locator(".modal-submit").click()
    await modal.wait_for(state="detached")
    await page.wait_for_function(
        "(ref) => [...document.querySelectorAll('#messages .msg')].some((m) => "
        "m.innerText.includes(ref) && !m.querySelector(\"[data-action-id='consult.advise']\"))",
        arg=consult_ref)

    # 3. The teacher sees the advice in their DM.
    await be(story, demo.TEACHER)
    advice = page.locator("#messages .msg", has_text="Offer an Early Help Assessment").last
    await advice.wait_for()
    await advice.locator("[data-action-id='advice.followed']").wait_for()
    await shot(page, "04-teacher-sees-advice")
    await advice.locator("[data-action-id='advice.followed']").click()

    # 4. A health visitor runs the referral checklist.
    await be(story, demo.HEALTH)
    await type_message(page, "/refer")
    await page.locator("#messages .block[data-block-id^='q:']").first.wait_for()
    refer_ref, _ = await play_flow(page, REFER, "05-health-visitor-refer")
    await shot(page, "06-referral-recorded")

    # 5. The MASH manager changes the suggested rating, with a reason.
    await be(story, demo.MANAGER, policy.channel("mash_managers"))
    where = await find_card_channel(page, refer_ref, [
        policy.channel("mash_managers"), policy.channel("early_help_duty")])
    triage = await card(page, refer_ref)
    await triage.locator("[data-action-id='card.change']").click()
    modal = page.locator(".modal[data-callback-id='modal.change_rating']")
    await modal.wait_for()
    rating = modal.locator(".block[data-block-id='rating'] select")
    current = await rating.input_value()
    new = next(r for r in CHANGED_TO if r != current)
    await rating.select_option(new)
    await modal.locator(".block[data-block-id='reason'] textarea").fill(REASON)
    await shot(page, "07-manager-changes-rating")
    await modal.locator(".modal-submit").click()
    await modal.wait_for(state="detached")
    label = policy.rating(new).label
    changed = page.locator("#messages .msg", has_text=refer_ref).filter(has_text=label).first
    await changed.wait_for()
    await show_top(changed)
    await shot(page, "08-rating-changed")
    # The card says who changed the rating and why, and a due time that stays true (in
    # Slack each reader's own zone; here the fallback, in the policy's), never "in 3 h".
    changed_text = await changed.inner_text()
    assert f"Why: {REASON}" in changed_text, changed_text
    assert re.search(r"Due \w{3} \d{1,2} \w{3} \d\d:\d\d · on time", changed_text), changed_text
    assert not re.search(r"\btoday\b|\bin \d+ (h|min)\b", changed_text), changed_text
    # README's picture of such a card: the window made tall enough to hold all of it.
    await page.set_viewport_size({"width": 1440, "height": 2600})
    await show_top(changed)
    await page.mouse.move(5, 5)
    picture = ARTIFACTS / "card-changed-rating.png"
    await changed.screenshot(path=str(picture))
    to_docs(picture)
    await page.set_viewport_size({"width": 1440, "height": 960})

    # 6. The workspace clock moves past the SLA; the breach shows in the card's thread.
    clock = policy.clock(policy.rating(new).clock)
    for _ in range(int(clock.duration.total_seconds() // 3600 // 24) + 1):
        await page.click("[data-advance='1440']")
        await page.wait_for_selector("#clock-result:has-text('Swept')")
    await page.click("[data-advance='240']")
    await page.wait_for_selector("#clock-result:has-text('Swept')")
    await page.click(f"#sidebar [data-channel='{where}']")
    triage = await card(page, refer_ref)
    await triage.locator(".replies").wait_for()
    await triage.locator(".replies").click()
    # A reply in the thread (not the card itself, which is the thread's first message).
    breach = page.locator("#thread-messages > .msg:not(:first-child)", has_text="breached")
    await breach.first.wait_for()
    breached = page.locator("#messages .msg", has_text=refer_ref).filter(has_text="BREACHED")
    await breached.first.wait_for()
    await show_top(breached.first)
    await breach.last.scroll_into_view_if_needed()
    await shot(page, "09-sla-breach-in-thread")
    card_text = await breached.first.inner_text()

    # 7. The manager's App Home lists the work, breach included.
    await page.click("#thread-close")
    await page.click(f"#sidebar [data-channel='{sb.fake.dm_channel(demo.MANAGER)}']")
    await page.click("#tab-home")
    home = page.locator("#home .home-view")
    await home.wait_for()
    await home.locator(".block").first.wait_for()
    await shot(page, "10-manager-app-home")
    assert refer_ref in (await home.text_content() or "")
    # Its reference links to the card: followed, the page opens the card's channel at it.
    await home.locator("a", has_text=refer_ref).first.click()
    await page.locator("#messages .msg.linked", has_text=refer_ref).wait_for()
    await shot(page, "11-home-link-opens-the-card")

    # The card says its clock as the sweep left it: overdue since its due time.
    assert re.search(r"Due (\w{3} \d{1,2} \w{3} \d\d:\d\d) · overdue since \1", card_text), (
        card_text)


# ------------------------------------------------------------------ the page on its own


async def test_the_page_renders_and_drives_block_kit() -> None:
    """Every Block Kit piece, with a stub app behind the page (no Front Door flows needed)."""
    _chromium_or_skip()
    from tests.sandbox_stub import stub_sandbox

    folder = fresh_folder(ROOT / "test-artifacts" / "browser-page")
    async with stub_sandbox() as sb, open_page(sb.url) as page:
        seen = sb.record.seen
        await type_message(page, "/consult")
        msg = page.locator("#messages .msg").first
        await msg.locator("[data-action-id='stub.answer:0']").wait_for()

        # mrkdwn: formatting, mentions and entities as DOM, never as HTML.
        intro = msg.locator(".block[data-block-id='intro']")
        assert await intro.locator("strong").first.text_content() == "Bold"
        assert await intro.locator("em").first.text_content() == "italic"
        assert await intro.locator("code").first.text_content() == "code"
        assert await intro.locator(".mention[data-user='U0TEACHER']").text_content() == (
            "@Ada Teacher")
        assert await intro.locator(".mention-channel").text_content() == "#consultation-duty"
        assert await intro.locator(".mention-group").text_content() == "@mash-managers"
        assert "& <b>not html</b>" in (await intro.text_content() or "")
        assert await intro.locator("b").count() == 0
        assert "🔴 Red" in (await msg.locator(".bk-fields").text_content() or "")
        assert await msg.locator(".bk-header h3").text_content() == "A question ⚠️"
        await shot(page, "message-blocks", folder)

        # Overflow, static select, date picker, multi-select + Next.
        await intro.locator(".bk-overflow summary").click()
        await intro.locator(".bk-overflow-menu button[data-value='120']").click()
        await msg.locator("select[data-action-id='stub.select']").select_option("11-15")
        await msg.locator("input[data-action-id='stub.date']").fill("2026-03-02")
        multi = msg.locator("[data-action-id='stub.multi']")
        await multi.locator("summary").click()
        await multi.locator("input[data-value='neglect']").check()
        await multi.locator("input[data-value='emotional']").check()
        await multi.locator("summary").click()
        await msg.locator("[data-action-id='stub.multi_done']").click()
        await page.wait_for_function("() => true")
        for _ in range(50):
            if any(kind == "multi" for kind, _ in seen):
                break
            await page.wait_for_timeout(100)
        assert ("stub.overflow", "120") in seen
        assert ("stub.select", "11-15") in seen
        assert ("date", "2026-03-02") in seen
        assert ("multi", ["neglect", "emotional"]) in seen

        # A confirmation dialog guards the danger button.
        await msg.locator("[data-action-id='stub.cancel']").click()
        dialog = page.locator(".confirm")
        await dialog.get_by_text("No, keep going").click()
        await dialog.wait_for(state="detached")
        await msg.locator("[data-action-id='stub.cancel']").click()
        await page.locator(".confirm").get_by_text("Yes, cancel").click()
        for _ in range(50):
            if ("cancel", None) in seen:
                break
            await page.wait_for_timeout(100)
        assert seen.count(("cancel", None)) == 1

        # A modal: required input checked first, then the app's error, then submitted.
        await msg.locator("[data-action-id='stub.open_modal']").click()
        modal = page.locator(".modal[data-callback-id='stub.modal']")
        await modal.wait_for()
        await modal.locator(".modal-submit").click()
        error = modal.locator(".block[data-block-id='advice'] .bk-input-error")
        await error.wait_for()
        assert await error.text_content() == "Please complete this required field."
        await modal.locator("textarea").fill("Tyler seems sad")
        await modal.locator(".modal-submit").click()
        await page.wait_for_function(
            "() => document.querySelector('.modal .bk-input-error:not([hidden])')"
            "?.textContent === 'That looks like a name.'")
        await shot(page, "modal-error", folder)
        await modal.locator("select").select_option("early_help")
        await modal.locator("textarea").fill("Offer early help")
        await modal.locator(".modal-submit").click()
        await modal.wait_for(state="detached")
        assert ("advice", ("early_help", "Offer early help")) in seen

        # A click that updates the message and replies in its thread.
        await msg.locator("[data-action-id='stub.answer:1']").click()
        updated = page.locator("#messages .msg", has_text="You answered no")
        await updated.wait_for()
        assert "(edited)" in (await updated.text_content() or "")
        await updated.locator(".replies").click()
        await page.locator("#thread .msg", has_text="A reply in the thread").wait_for()
        await page.click("#thread-close")

        # Ephemerals are for their person only; an unknown command gets Slackbot's answer.
        await type_message(page, "/refer")
        private = page.locator("#messages .msg.ephemeral",
                               has_text="I've started this in our direct messages.")
        await private.wait_for()
        assert "Only visible to you" in (await private.text_content() or "")
        await type_message(page, "/nonsense")
        await page.locator("#messages .msg.ephemeral", has_text="is not a valid command").wait_for()

        # A Web API method the fake lacks shows at once.
        await type_message(page, "missing piece")
        await page.locator(".toast", has_text="chat.scheduleMessage: unknown_method").wait_for()

        # The App Home tab, and the workspace clock.
        await page.click("#tab-home")
        await page.locator("#home .home-view", has_text="Your front door").wait_for()
        await page.click("[data-advance='60']")
        await page.wait_for_selector("#clock-result:has-text('Swept')")
        assert "11:00" in (await page.text_content("#clock-now") or "")
        await shot(page, "home-and-clock", folder)

        # Another person sees neither the teacher's DM nor their ephemerals.
        await page.select_option("#person", demo.HEALTH)
        await page.click(f"#sidebar [data-channel='{sb.fake.dm_channel(demo.HEALTH)}']")
        await page.click("#tab-messages")
        await page.locator("#messages .empty").wait_for()
        assert await page.locator("#messages .msg").count() == 0
