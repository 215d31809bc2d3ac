"""The consultation and the referral stories played in the sandbox's Teams view, in
Chromium, as people would (issue 19).

``frontdoor sandbox --platform teams`` (the real bot, SQLite, the default policy with the
demo tenant's ``teams:`` section) is started in the test's event loop; the page is driven
with Playwright in Debian's Chromium. The page speaks the Bot Connector protocol to the
bot (``bot.sandbox.teamsview``) and draws the cards with Microsoft's renderer; the test
only reads and clicks what a person sees. Screenshots go to ``test-artifacts/teams-story/``
and, once the whole story has passed and ``FRONTDOOR_DOCS_PICTURES`` is set, to
``docs/teams-*.png``.

The consultation: a teacher types ``consult`` in her chat with Front Door and answers
every question card (one typed answer is refused by the no-names guard, which names the
kind and place of the detail and never repeats it); the duty advisor opens the card in
the consultation-duty channel and gives advice in its dialog; the teacher reads it.
The referral: a health visitor types ``refer`` and answers; a youth worker who is not a
manager tries to approve the card and is refused; the MASH manager approves it (the card
is redrawn in place); the health visitor is told the outcome.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.sandbox import demo
from bot.sandbox.ui import WorkspaceClock
from tests.helpers import to_docs
from tests.slackenv import refused_identifiers
from tests.test_browser_story import (
    ADVICE,
    CLEAN,
    CONSULT,
    PLAIN,
    REFER,
    REFUSED,
    STORY_START,
    Story,
    _chromium_or_skip,
    fresh_folder,
    open_page,
    shot,
)

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "teams-story"  # this run's screenshots
NAME = "teams"  # the screenshots' prefix: docs/teams-*.png
MAX_QUESTIONS = 60
POSTS = "#messages > .post"


@pytest.fixture
async def story(tmp_path: Path) -> AsyncIterator[Story]:
    """The sandbox with its Teams view open in Chromium."""
    _chromium_or_skip()
    from bot.sandbox.run import sandbox

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'frontdoor.db'}", port=0)
    clock = WorkspaceClock(offset=STORY_START - datetime.now(UTC))
    async with sandbox(settings, port=0, clock=clock, persist=False, platform="teams") as sb:
        assert sb.url.endswith("/teams")
        async with open_page(sb.url) as pg:
            yield Story(pg, sb)


# ------------------------------------------------------------------ acting as a person


async def be(story: Story, user: str, conversation: str = "personal") -> None:
    """Switch the page to the demo person ``user`` (a Slack demo id) in ``conversation``
    (their chat with Front Door, or a channel's name)."""
    page = story.page
    await page.locator("#toasts").evaluate("(t) => t.replaceChildren()")  # the last one's
    aad = demo.teams_id(user)
    await page.select_option("#person", aad)
    target = conversation
    if conversation != "personal":
        target = next(cid for cid, name in story.sb.teams.channels if name == conversation)
    await page.click(f"#sidebar [data-conversation='{target}']")
    await page.wait_for_selector(f"#sidebar [data-conversation='{target}'].active")


async def say(page: Any, text: str) -> None:
    await page.fill("#composer", text)
    await page.press("#composer", "Enter")


async def posts(page: Any) -> int:
    return int(await page.locator(POSTS).count())


async def new_post(page: Any, before: int) -> None:
    """Wait until the conversation has more posts than ``before``, then until it is still."""
    await page.wait_for_function(f"(n) => document.querySelectorAll('{POSTS}').length > n",
                                 arg=before)
    last = None
    for _ in range(40):
        now = await page.locator(POSTS).evaluate_all(
            "(ps) => ps.map((p) => p.dataset.id + p.innerText.length).join('|')")
        if now == last:
            return
        last = now
        await page.wait_for_timeout(300)


async def answer(page: Any, card: Any, wanted: Any) -> str:
    """Answer the question ``card`` asks, as a person would; returns how."""
    boxes = card.locator("input[type=checkbox]")
    if await boxes.count():
        values = wanted if isinstance(wanted, list) else None
        if values is None:
            await boxes.first.check()
        for value in values or []:
            await card.locator(f"input[type=checkbox][value='{value}']").check()
        await card.get_by_role("button", name="Next").click()
        return f"multi {values or 'first'}"
    radios = card.locator("input[type=radio]")
    if await radios.count():
        values = await radios.evaluate_all("(rs) => rs.map((r) => r.value)")
        value = wanted if wanted in values else values[0]
        await card.locator(f"input[type=radio][value='{value}']").check()
        await card.get_by_role("button", name="Next").click()
        return f"choice {value}"
    select = card.locator("select")
    if await select.count():
        values = await select.locator("option").evaluate_all(
            "(os) => os.map((o) => o.value).filter(Boolean)")
        value = wanted if wanted in values else values[0]
        await select.select_option(value)
        await card.get_by_role("button", name="Next").click()
        return f"select {value}"
    date = card.locator("input[type=date]")
    if await date.count():
        await date.fill(wanted if isinstance(wanted, str) else "2026-03-06")
        await card.get_by_role("button", name="Next").click()
        return "date"
    # A question answered in words: typed into the chat, as people do.
    await say(page, wanted if isinstance(wanted, str) else PLAIN)
    return "typed"


async def play_flow(page: Any, answers: dict[str, Any], name: str) -> tuple[str, list[str]]:
    """Answer every question card in the chat until Front Door says thank you; returns
    (the reference, the questions answered). A tuple of answers is given in turn."""
    given: dict[str, int] = {}
    asked: list[str] = []
    for step in range(MAX_QUESTIONS):
        done = page.locator(POSTS, has_text="Thank you: your")
        if await done.count():
            text = await done.last.inner_text()
            ref = re.search(r"FD-\d{4}-\d{6}", text)
            assert ref, text
            return ref.group(0), asked
        last = page.locator(POSTS).last
        assert "Something went wrong" not in await last.inner_text()
        card = page.locator(f"{POSTS}.from-bot .card[data-question]").last
        qid = await card.get_attribute("data-question")
        planned = answers.get(qid)
        turn = given.get(qid, 0)
        wanted = planned[min(turn, len(planned) - 1)] if isinstance(planned, tuple) else planned
        if step == 0:
            await shot(page, f"{NAME}-{name}-first-question", ARTIFACTS)
        before = await posts(page)
        await answer(page, card, wanted)
        given[qid] = turn + 1
        asked.append(qid)
        await new_post(page, before)
        if wanted == REFUSED:
            refusal = page.locator(POSTS).last
            words = await refusal.inner_text()
            assert "couldn't accept that answer" in words
            for ident in refused_identifiers([REFUSED]):
                assert ident not in words, f"the refusal repeats {ident!r}"
            await shot(page, f"{NAME}-{name}-no-names-refusal", ARTIFACTS)
    raise AssertionError(f"the flow did not finish; answered {asked}")


@contextlib.asynccontextmanager
async def dialog(page: Any) -> AsyncIterator[Any]:
    """The dialog (task module) open now; waits for it to close on the way out."""
    box = page.locator(".dialog")
    await box.wait_for()
    yield box
    await box.wait_for(state="detached")


# ------------------------------------------------------------------ the stories


async def test_consultation_and_referral_in_the_teams_view(story: Story) -> None:
    page = story.page
    fresh_folder(ARTIFACTS)

    # The consultation: Ada asks, Dee advises, Ada reads the advice.
    await be(story, demo.TEACHER)
    before = await posts(page)
    await say(page, "consult")
    await new_post(page, before)
    reference, asked = await play_flow(page, CONSULT, "consult")
    assert "worried" in asked
    await shot(page, f"{NAME}-consult-done", ARTIFACTS)

    await be(story, demo.ADVISOR, "consultation-duty")
    card = page.locator(f"{POSTS}.from-bot", has_text=reference).last
    await card.wait_for()
    await card.get_by_role("button", name="Give advice").click()
    async with dialog(page) as box:
        await box.locator("textarea").first.fill(ADVICE)
        await shot(page, f"{NAME}-advice-dialog", ARTIFACTS)
        await box.get_by_role("button", name="Save").click()
    await page.locator(f"{POSTS}.from-bot", has_text=reference).last.wait_for()

    await be(story, demo.TEACHER)
    advice = page.locator(f"{POSTS}.from-bot", has_text=f"Advice on your consultation {reference}")
    await advice.wait_for()
    assert ADVICE[:40] in await advice.last.inner_text()
    await shot(page, f"{NAME}-advice-received", ARTIFACTS)

    # The referral: Hal refers, Oli (not a manager) is refused, Sam approves, Hal is told.
    await be(story, demo.HEALTH)
    before = await posts(page)
    await say(page, "refer")
    await new_post(page, before)
    reference, _ = await play_flow(page, REFER, "refer")

    await be(story, demo.OUTSIDER, "mash-managers")
    card = page.locator(f"{POSTS}.from-bot", has_text=reference).last
    await card.wait_for()
    await card.get_by_role("button", name="Approve rating").click()
    refused = page.locator(".toast", has_text="Only the front door's managers")
    await refused.wait_for()
    await shot(page, f"{NAME}-refer-not-a-manager", ARTIFACTS)

    await be(story, demo.MANAGER, "mash-managers")
    card = page.locator(f"{POSTS}.from-bot", has_text=reference).last
    await card.get_by_role("button", name="Approve rating").click()
    decided = page.locator(f"{POSTS}.from-bot", has_text=reference).last
    await decided.get_by_role("button", name="Approve rating").wait_for(state="detached")
    # The card as the renderer draws it for everyone (the bot's update), with its actions.
    await decided.get_by_role("button", name="Change rating").wait_for()
    await shot(page, f"{NAME}-refer-approved", ARTIFACTS)

    await be(story, demo.HEALTH)
    told = page.locator(f"{POSTS}.from-bot", has_text=reference)
    await told.filter(has_text=re.compile("Rating|rating")).last.wait_for()
    await shot(page, f"{NAME}-refer-outcome", ARTIFACTS)

    # Nothing the guard refused was kept: not in the workspace the sandbox would save.
    saved = str(story.sb.teams.snapshot())
    for ident in refused_identifiers([REFUSED, CLEAN]):
        assert ident not in saved
    for picture in ARTIFACTS.glob(f"{NAME}-*.png"):
        to_docs(picture)
