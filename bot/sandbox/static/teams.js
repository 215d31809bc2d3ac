/* The Front Door sandbox's Teams view: a small Teams client for the demo people.
 *
 * It talks only to /ui/teams/* (bot/sandbox/teamsview.py), which turns what a person
 * types or clicks into the activities Teams posts to the bot, and reads what the bot
 * sent to the fake Bot Connector. Adaptive Cards are drawn by Microsoft's own renderer
 * (window.AdaptiveCards, the npm package adaptivecards, vendored): this file only hands
 * it the card and sends its actions back as Teams would.
 */
"use strict";

(() => {
  const $ = (sel) => document.querySelector(sel);
  const AC = window.AdaptiveCards;
  const POLL_MS = 700; // the fake Bot Connector has no push: the page reads it this often

  const app = {
    ws: null, // /ui/teams/workspace
    user: null,
    conversation: "personal", // "personal" (the chat with the bot) or a channel id
    shown: new Map(), // post id -> {key, node}
    poll: null,
    dialog: null, // {activityId, conversation}
    newest: null, // the newest post's id (scrolled into view when it changes)
  };

  // ------------------------------------------------------------------ http

  const { api } = window.SandboxApi; // static/api.js: the calls both pages make

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null) node.setAttribute(k, v);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function toast(text, kind) {
    const node = el("div", { class: `toast ${kind || ""}`, role: "status" }, text);
    $("#toasts").append(node);
    setTimeout(() => node.remove(), 8000);
  }

  // ---------------------------------------------------------------- cards

  // Teams shows a card's markdown (bold, italics, lists) itself; the renderer asks the
  // host. Text is escaped first, so nothing in a card becomes markup of the page.
  function markdown(text, result) {
    const escaped = text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    result.outputHtml = escaped
      .replace(/&#60;at&#62;(.*?)&#60;\/at&#62;/g, "<strong>@$1</strong>") // a mention
      .replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>")
      .replace(/(^|[\s(])_(.+?)_(?=[\s).,]|$)/g, "$1<em>$2</em>")
      .replace(/\n/g, "<br>");
    result.didProcess = true;
  }
  AC.AdaptiveCard.onProcessMarkdown = markdown;

  function drawCard(json, onAction) {
    const card = new AC.AdaptiveCard();
    card.hostConfig = new AC.HostConfig({
      fontFamily: "Segoe UI, system-ui, sans-serif",
      supportsInteractivity: true,
    });
    card.onExecuteAction = onAction;
    try {
      card.parse(json);
      return card.render() || el("div", { class: "card-error" }, "(a card Teams could not draw)");
    } catch (err) {
      return el("div", { class: "card-error" }, `(a card Teams could not draw: ${err})`);
    }
  }

  // An action from a card: Action.Submit and Action.Execute go back to the bot as Teams
  // sends them (the server builds the activity); Action.OpenUrl opens the link.
  async function cardAction(action, post) {
    const type = action.getJsonTypeName();
    if (type === "Action.OpenUrl") {
      window.open(action.url, "_blank", "noopener");
      return;
    }
    if (type !== "Action.Submit" && type !== "Action.Execute") return;
    const body = {
      user: app.user, conversation: app.conversation, activity_id: post.id,
      type, verb: action.verb || "", data: action.data || {},
    };
    const answer = await api("/ui/teams/action", body);
    if (!answer.ok) {
      toast(answer.error || "That did not go through.", "error");
    } else if (answer.task) {
      taskAnswer(answer.task, post.id);
    } else if (answer.kind === "message" && answer.message) {
      toast(answer.message, "info");
    }
    await refresh();
  }

  // ---------------------------------------------------------------- dialogs

  function closeDialog() {
    $("#dialog-root").replaceChildren();
    app.dialog = null;
  }

  function taskAnswer(task, activityId) {
    if (task.type === "message") {
      closeDialog();
      if (task.value) toast(String(task.value), "info");
      return;
    }
    if (task.type !== "continue") {
      closeDialog();
      return;
    }
    const value = task.value || {};
    const content = (value.card || {}).content;
    app.dialog = { activityId, conversation: app.conversation };
    const card = drawCard(content, async (action) => {
      const answer = await api("/ui/teams/task", {
        user: app.user, conversation: app.dialog.conversation,
        activity_id: app.dialog.activityId, data: action.data || {},
      });
      if (!answer.ok) {
        toast(answer.error || "The dialog did not go through.", "error");
        return;
      }
      taskAnswer(answer.task, activityId);
      await refresh();
    });
    const close = el("button", { type: "button", class: "dialog-close", "aria-label": "Close" },
      "×");
    close.addEventListener("click", closeDialog);
    const box = el("div", { class: "dialog", role: "dialog", "aria-modal": "true",
      "aria-label": value.title || "Dialog" },
    el("header", {}, el("h2", {}, value.title || ""), close), card);
    $("#dialog-root").replaceChildren(el("div", { class: "dialog-backdrop" }, box));
  }

  // ---------------------------------------------------------------- messages

  // A text activity: Teams' mentions (<at>Name</at>) shown as @Name, as plain text.
  const plain = (text) => String(text || "").replace(/<at>(.*?)<\/at>/g, "@$1");

  function drawPost(post) {
    const body = el("div", { class: "body" });
    if (post.text) body.append(el("div", { class: "text" }, plain(post.text)));
    for (const card of post.cards) {
      // The question a flow card asks (its buttons' data say), for whoever reads the page.
      const asks = (card.actions || []).map((a) => (a.data || {}).question).find(Boolean);
      body.append(el("div", { class: "card", "data-question": asks },
        drawCard(card, (a) => cardAction(a, post))));
    }
    const node = el("article", {
      class: `post ${post.bot ? "from-bot" : "from-person"}`, "data-id": post.id,
    }, el("div", { class: "author" }, post.from), body);
    if (post.replies.length) {
      const replies = el("div", { class: "replies" });
      for (const r of post.replies) replies.append(drawPost({ ...r, replies: [] }));
      node.append(replies);
    }
    return node;
  }

  async function refresh() {
    if (!app.user) return;
    const q = new URLSearchParams({ user: app.user, conversation: app.conversation });
    const data = await api(`/ui/teams/messages?${q}`);
    if (!data.ok) return;
    const list = $("#messages");
    const seen = new Set();
    let previous = null;
    for (const post of data.messages) {
      seen.add(post.id);
      // Only a post that changed is drawn again: a card being filled in keeps its inputs.
      const key = JSON.stringify(post);
      let item = app.shown.get(post.id);
      if (!item || item.key !== key) {
        const node = drawPost(post);
        if (item) item.node.replaceWith(node);
        item = { key, node };
        app.shown.set(post.id, item);
      }
      const want = previous ? previous.nextSibling : list.firstChild;
      if (want !== item.node) list.insertBefore(item.node, want);
      previous = item.node;
    }
    for (const [id, item] of app.shown) {
      if (!seen.has(id)) {
        item.node.remove();
        app.shown.delete(id);
      }
    }
    // As in Teams, the newest post is in view when it arrives.
    const newest = data.messages.length ? data.messages[data.messages.length - 1].id : null;
    if (newest !== app.newest) {
      app.newest = newest;
      list.scrollTop = list.scrollHeight;
    }
  }

  function open(conversation) {
    app.conversation = conversation;
    app.shown = new Map();
    app.newest = null;
    $("#messages").replaceChildren();
    const channel = app.ws.channels.find((c) => c.id === conversation);
    $("#conversation-title").textContent = channel ? channel.name : app.ws.bot;
    for (const node of document.querySelectorAll("[data-conversation]")) {
      node.classList.toggle("active", node.dataset.conversation === conversation);
    }
    refresh();
  }

  // ---------------------------------------------------------------- clock

  async function showClock() {
    const info = await api("/ui/clock");
    if (!info.now) return;
    const when = new Date(info.now);
    $("#clock-now").textContent = new Intl.DateTimeFormat("en-GB", {
      weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
      timeZone: info.timezone,
    }).format(when);
  }

  async function advance(minutes) {
    const buttons = document.querySelectorAll("#clock button");
    buttons.forEach((b) => { b.disabled = true; });
    $("#clock-result").textContent = "Running the reminder sweep…";
    const result = await api("/ui/clock", { minutes });
    buttons.forEach((b) => { b.disabled = false; });
    $("#clock-result").textContent = result.ok ? "Moved on; reminders swept." : "";
    if (!result.ok) toast(`The clock did not move: ${result.error}`, "error");
    await showClock();
    await refresh();
  }

  // ---------------------------------------------------------------- start

  function sidebar() {
    const chat = el("li", {}, el("button", { type: "button", "data-conversation": "personal" },
      app.ws.bot));
    $("#chat-list").replaceChildren(chat);
    $("#channel-list").replaceChildren(...app.ws.channels.map((c) => el("li", {},
      el("button", { type: "button", "data-conversation": c.id }, c.name))));
    for (const node of document.querySelectorAll("[data-conversation]")) {
      node.addEventListener("click", () => open(node.dataset.conversation));
    }
  }

  function choosePerson(id) {
    app.user = id;
    const p = app.ws.people.find((x) => x.id === id);
    $("#person-title").textContent = p ? p.title : "";
    closeDialog();
    open(app.conversation);
  }

  async function start() {
    const ws = await api("/ui/teams/workspace");
    if (!ws.ok) {
      $("#conversation-title").textContent = "The sandbox is not reachable";
      return;
    }
    app.ws = ws;
    $("#authority").textContent = ws.authority;
    const select = $("#person");
    select.replaceChildren(...ws.people.map((p) => el("option", { value: p.id }, p.name)));
    select.addEventListener("change", () => choosePerson(select.value));
    sidebar();
    $("#composer-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const box = $("#composer");
      const text = box.value.trim();
      if (!text) return;
      box.value = "";
      const sent = await api("/ui/teams/send", {
        user: app.user, conversation: app.conversation, text,
      });
      if (!sent.ok) toast(sent.error || `The bot answered ${sent.status}`, "error");
      await refresh();
    });
    $("#composer").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey) {
        e.preventDefault();
        $("#composer-form").requestSubmit();
      }
    });
    for (const b of document.querySelectorAll("#clock [data-advance]")) {
      b.addEventListener("click", () => advance(Number(b.dataset.advance)));
    }
    choosePerson(ws.people[0].id);
    showClock();
    app.poll = setInterval(refresh, POLL_MS);
    setInterval(showClock, 30000);
    document.body.dataset.ready = "true";
  }

  start();
})();
