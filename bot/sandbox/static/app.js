/* The Front Door sandbox page: a small Slack client for the demo people.
 *
 * It talks only to /ui/* (see bot/sandbox/ui.py): reads channels and threads,
 * sends what the person types or clicks, and follows live updates over
 * Server-Sent Events. Rendering of Block Kit is in blockkit.js.
 */
"use strict";

(() => {
  const { el, render, mrkdwn, plainText } = window.BlockKit;
  const $ = (sel) => document.querySelector(sel);

  const app = {
    ws: null, // /ui/workspace
    user: null,
    channel: null,
    tab: "messages", // or "home" (only in the DM with the app)
    thread: null, // {channel, ts}
    modals: {}, // user -> [view]
    modalState: {}, // view id -> state
    surfaces: {}, // "channel:ts" -> state of a message's elements
    nodes: new Map(), // message key -> {json, node}
    unread: {},
    events: null,
    clockSkew: 0, // workspace epoch ms minus Date.now()
    refreshTimer: null,
  };

  // ------------------------------------------------------------------ http

  const { api } = window.SandboxApi; // static/api.js: the calls both pages make

  function toast(text, kind) {
    const node = el("div", { class: `toast ${kind || ""}`, role: "status" }, text);
    $("#toasts").append(node);
    setTimeout(() => node.remove(), 8000);
  }

  // --------------------------------------------------------------- helpers

  const names = () => ({
    users: app.ws.users,
    channels: app.ws.channel_names,
    usergroups: app.ws.usergroups,
  });

  function person(id) {
    return app.ws.people.find((p) => p.id === id);
  }

  function dmOf(user) {
    const p = person(user);
    return p ? p.dm : null;
  }

  function isDm(channel) {
    return Boolean(channel) && channel === dmOf(app.user);
  }

  function channelLabel(channel) {
    if (isDm(channel)) return app.ws.bot.name;
    return "#" + (app.ws.channel_names[channel] || channel);
  }

  const timeFormat = () => new Intl.DateTimeFormat("en-GB", {
    hour: "2-digit", minute: "2-digit", timeZone: app.ws.clock.timezone,
  });
  const dayFormat = () => new Intl.DateTimeFormat("en-GB", {
    weekday: "short", day: "numeric", month: "short", timeZone: app.ws.clock.timezone,
  });
  const longDayFormat = () => new Intl.DateTimeFormat("en-GB", {
    weekday: "long", day: "numeric", month: "long", timeZone: app.ws.clock.timezone,
  });
  const clockFormat = () => new Intl.DateTimeFormat("en-GB", {
    weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit",
    minute: "2-digit", second: "2-digit", timeZone: app.ws.clock.timezone,
  });

  function tsDate(ts) {
    return new Date(parseFloat(ts) * 1000);
  }

  function initials(name) {
    return (name || "?").split(/[\s.]+/).filter(Boolean).slice(0, 2)
      .map((w) => w[0].toUpperCase()).join("");
  }

  function hue(id) {
    let h = 0;
    for (const c of id || "") h = (h * 31 + c.charCodeAt(0)) % 360;
    return h;
  }

  function saveHash() {
    const params = new URLSearchParams({ user: app.user, channel: app.channel, tab: app.tab });
    history.replaceState(null, "", "#" + params.toString());
  }

  // ------------------------------------------------------------------ sidebar

  function renderSidebar() {
    const select = $("#person");
    select.replaceChildren(...app.ws.people.map((p) =>
      el("option", { value: p.id, text: p.real_name })));
    select.value = app.user;
    const me = person(app.user);
    $("#person-title").textContent = me ? me.title : "";
    const item = (id, label, extra) => {
      const count = app.unread[id] || 0;
      const button = el("button", {
        type: "button", class: "channel" + (id === app.channel ? " active" : "") +
          (count ? " unread" : ""),
        "data-channel": id, "aria-current": id === app.channel ? "page" : null,
      }, label, count ? el("span", { class: "badge", text: String(count) }) : "", extra || "");
      button.addEventListener("click", () => openChannel(id));
      return el("li", {}, button);
    };
    $("#channel-list").replaceChildren(...app.ws.channels.map((c) => item(c.id, "# " + c.name)));
    const dm = dmOf(app.user);
    $("#app-list").replaceChildren(item(dm, el("span", {},
      el("span", { class: "app-dot" }, "●"), " " + app.ws.bot.name)));
  }

  // ------------------------------------------------------------------- clock

  function setClock(info) {
    app.ws.clock = { ...app.ws.clock, ...info };
    app.clockSkew = info.epoch * 1000 - Date.now();
    tick();
  }

  function tick() {
    if (!app.ws) return;
    const now = new Date(Date.now() + app.clockSkew);
    $("#clock-now").textContent = clockFormat().format(now);
    const ahead = Math.round(app.ws.clock.offset_seconds || 0);
    let words = "real time";
    if (ahead > 0) words = `${describe(ahead)} ahead of real time`;
    if (ahead < 0) words = `${describe(-ahead)} behind real time`;
    $("#clock-offset").textContent = words;
  }

  function describe(seconds) {
    const minutes = Math.round(seconds / 60);
    const days = Math.floor(minutes / 1440);
    const hours = Math.floor((minutes % 1440) / 60);
    const mins = minutes % 60;
    const parts = [];
    if (days) parts.push(`${days} day${days === 1 ? "" : "s"}`);
    if (hours) parts.push(`${hours} hour${hours === 1 ? "" : "s"}`);
    if (mins || !parts.length) parts.push(`${mins} minute${mins === 1 ? "" : "s"}`);
    return parts.join(" ");
  }

  async function moveClock(body) {
    const buttons = document.querySelectorAll("#clock button");
    buttons.forEach((b) => { b.disabled = true; });
    $("#clock-result").textContent = "Running the reminder sweep…";
    const result = await api("/ui/clock", body);
    buttons.forEach((b) => { b.disabled = false; });
    if (!result.ok) {
      $("#clock-result").textContent = "";
      toast("The clock did not move: " + result.error, "error");
      return;
    }
    setClock(result);
    const swept = result.swept || {};
    const due = (swept.reminders || {}).sent || 0;
    const posted = swept.posted || 0;
    $("#clock-result").textContent = swept.reminders
      ? `Swept: ${due} reminder${due === 1 ? "" : "s"} sent, ` +
        `${posted} message${posted === 1 ? "" : "s"} posted or updated.`
      : "Moved.";
  }

  // ---------------------------------------------------------------- channels

  async function openChannel(channel, tab) {
    app.channel = channel;
    app.tab = isDm(channel) ? tab || (app.tab === "home" ? "home" : "messages") : "messages";
    app.unread[channel] = 0;
    app.nodes = new Map();
    $("#messages").replaceChildren();
    saveHash();
    renderSidebar();
    renderHeader();
    if (app.tab === "home") {
      await openHome();
    } else {
      await refreshMessages();
    }
  }

  function renderHeader() {
    $("#channel-title").textContent = channelLabel(app.channel);
    const dm = isDm(app.channel);
    $("#tabs").hidden = !dm;
    $("#tab-home").setAttribute("aria-selected", String(app.tab === "home"));
    $("#tab-messages").setAttribute("aria-selected", String(app.tab === "messages"));
    $("#home").hidden = app.tab !== "home";
    $("#messages").hidden = app.tab === "home";
    $("#composer-form").hidden = app.tab === "home";
    $("#composer").placeholder = `Message ${channelLabel(app.channel)}` +
      (dm ? "  (or a command: " + app.ws.commands.join(", ") + ")" : "");
  }

  function messageKey(channel, msg) {
    return `${channel}:${msg.ts}:${msg.ephemeral ? "e" : "m"}`;
  }

  function author(msg) {
    if (msg.user === "USLACKBOT") return { name: "Slackbot", bot: true, id: "USLACKBOT" };
    if (msg.bot_id) return { name: app.ws.bot.name, bot: true, id: app.ws.bot.id };
    const user = app.ws.users[msg.user] || {};
    return { name: user.real_name || msg.user, bot: false, id: msg.user };
  }

  function renderMessage(channel, msg, inThread) {
    const who = author(msg);
    const key = messageKey(channel, msg);
    const surface = {
      key,
      names: names(),
      state: app.surfaces[key] = app.surfaces[key] || {},
      onAction: (action) => api("/ui/action", {
        user: app.user, channel, ts: msg.ts, ephemeral: Boolean(msg.ephemeral),
        state: surface.state, ...action,
      }),
    };
    const head = el("div", { class: "msg-head" },
      el("span", { class: "msg-author", text: who.name }),
      who.bot ? el("span", { class: "app-badge", text: "APP" }) : "",
      el("time", { datetime: tsDate(msg.ts).toISOString(),
        title: dayFormat().format(tsDate(msg.ts)) }, timeFormat().format(tsDate(msg.ts))),
      msg.edited ? el("span", { class: "edited", text: "(edited)" }) : "");
    const content = el("div", { class: "msg-content" });
    if (msg.blocks && msg.blocks.length) content.append(render(msg.blocks, surface));
    else content.append(mrkdwn(msg.text || "", names()));
    for (const file of msg.files || []) {
      content.append(el("div", { class: "file" }, "📎 ",
        el("a", { href: file.url_private, target: "_blank", rel: "noopener" },
          file.title || file.name)));
    }
    const body = el("div", { class: "msg-body" }, head,
      msg.ephemeral ? el("div", { class: "only-you" }, "👁 Only visible to you") : "", content);
    if (msg.reactions && msg.reactions.length) {
      body.append(el("div", { class: "reactions" }, ...msg.reactions.map((r) =>
        el("span", { class: "reaction" }, window.BlockKit.emojify(`:${r.name}:`), " ", r.count))));
    }
    if (!inThread && msg.reply_count) {
      const link = el("button", { type: "button", class: "replies", "data-thread": msg.ts },
        `${msg.reply_count} ${msg.reply_count === 1 ? "reply" : "replies"}`);
      link.addEventListener("click", () => openThread(channel, msg.ts));
      body.append(link);
    }
    if (msg.subtype === "thread_broadcast" && !inThread) {
      body.append(el("div", { class: "broadcast", text: "replied to a thread" }));
    }
    const node = el("div", {
      class: "msg" + (msg.ephemeral ? " ephemeral" : "") + (who.bot ? " from-app" : ""),
      "data-ts": msg.ts, "data-user": who.id, "data-ephemeral": msg.ephemeral ? "true" : null,
      "data-thread-ts": msg.thread_ts || null,
    },
    el("div", { class: "avatar", style: `background: hsl(${hue(who.id)}, 45%, 42%)`,
      "aria-hidden": "true" }, who.bot ? "FD" : initials(who.name)),
    body);
    if (!inThread && !msg.ephemeral) {
      const reply = el("button", { type: "button", class: "reply-action",
        title: "Reply in thread", "aria-label": "Reply in thread" }, "💬");
      reply.addEventListener("click", () => openThread(channel, msg.ts));
      node.append(reply);
    }
    return node;
  }

  function mergeInto(container, channel, messages, inThread, nodes) {
    const wanted = [];
    let day = null;
    for (const msg of messages) {
      const today = longDayFormat().format(tsDate(msg.ts));
      if (!inThread && today !== day) {
        const dayKey = `day:${today}`;
        if (!nodes.has(dayKey)) {
          nodes.set(dayKey, { json: "", node: el("div", { class: "day-divider", role: "separator" },
            el("span", { text: today })) });
        }
        wanted.push(nodes.get(dayKey).node);
      }
      day = today;
      const key = messageKey(channel, msg);
      const json = JSON.stringify(msg);
      let entry = nodes.get(key);
      if (!entry || entry.json !== json) {
        if (entry) delete app.surfaces[key]; // an updated message starts fresh, as in Slack
        entry = { json, node: renderMessage(channel, msg, inThread) };
        nodes.set(key, entry);
      }
      wanted.push(entry.node);
    }
    const nearBottom = container.scrollHeight - container.scrollTop - container.clientHeight < 80;
    const current = [...container.children];
    const grew = wanted.length > current.length;
    if (current.length !== wanted.length || current.some((n, i) => n !== wanted[i])) {
      container.replaceChildren(...wanted);
    }
    for (const key of [...nodes.keys()]) {
      if (!wanted.includes(nodes.get(key).node)) nodes.delete(key);
    }
    if (nearBottom || grew) container.scrollTop = container.scrollHeight;
  }

  async function refreshMessages() {
    if (!app.channel || app.tab !== "messages") return;
    const channel = app.channel;
    const data = await api(`/ui/messages?channel=${encodeURIComponent(channel)}` +
      `&user=${encodeURIComponent(app.user)}`);
    if (!data.ok || channel !== app.channel) return;
    if (!data.messages.length) {
      const empty = el("div", { class: "empty" }, isDm(channel)
        ? `This is your conversation with ${app.ws.bot.name}. Try ${app.ws.commands[0]}.`
        : `This is the start of ${channelLabel(channel)}.`);
      $("#messages").replaceChildren(empty);
      app.nodes = new Map();
      return;
    }
    if ($("#messages .empty")) $("#messages").replaceChildren();
    mergeInto($("#messages"), channel, data.messages, false, app.nodes);
  }

  function scheduleRefresh() {
    clearTimeout(app.refreshTimer);
    app.refreshTimer = setTimeout(() => {
      refreshMessages();
      refreshThread();
    }, 40);
  }

  // ------------------------------------------------------------- message links

  // A link to a message of this workspace, in the form Slack's permalinks take
  // (https://<team>.slack.com/archives/<channel>/p<ts without its dot>), opens it here as
  // Slack would: its channel, scrolled to and marked; a reply's link opens its thread.
  const ARCHIVE_LINK = /\/archives\/([A-Z0-9]+)\/p(\d{10})(\d{6})$/;

  async function followMessageLink(event) {
    const link = event.target.closest && event.target.closest("a[href]");
    if (!link || !app.ws) return;
    let url;
    try { url = new URL(link.href); } catch { return; }
    const found = ARCHIVE_LINK.exec(url.pathname);
    if (!found) return;
    const channel = found[1];
    const ts = `${found[2]}.${found[3]}`;
    const known = app.ws.channels.some((c) => c.id === channel) || channel === dmOf(app.user);
    if (!known) return;  // not a conversation this person has here: an ordinary link
    event.preventDefault();
    await openChannel(channel, "messages");
    const thread = url.searchParams.get("thread_ts");
    if (thread) await openThread(channel, thread);
    const node = document.querySelector(`#messages .msg[data-ts="${ts}"]`);
    if (!node) return;
    for (const old of document.querySelectorAll(".msg.linked")) old.classList.remove("linked");
    node.classList.add("linked");
    node.scrollIntoView({ block: "center" });
  }

  // ------------------------------------------------------------------ threads

  const threadNodes = { map: new Map() };

  async function openThread(channel, ts) {
    app.thread = { channel, ts };
    threadNodes.map = new Map();
    $("#thread-messages").replaceChildren();
    $("#thread").hidden = false;
    $("#thread-channel").textContent = channelLabel(channel);
    await refreshThread();
    $("#thread-composer").focus();
  }

  async function refreshThread() {
    if (!app.thread) return;
    const { channel, ts } = app.thread;
    const data = await api(`/ui/thread?channel=${encodeURIComponent(channel)}` +
      `&ts=${encodeURIComponent(ts)}&user=${encodeURIComponent(app.user)}`);
    if (!data.ok || !app.thread || app.thread.ts !== ts) return;
    mergeInto($("#thread-messages"), channel, data.messages, true, threadNodes.map);
  }

  function closeThread() {
    app.thread = null;
    $("#thread").hidden = true;
  }

  // --------------------------------------------------------------------- home

  async function openHome() {
    $("#home").replaceChildren(el("div", { class: "empty" }, "Opening the App Home…"));
    const result = await api("/ui/home/open", { user: app.user });
    if (!result.ok) toast("The app did not answer app_home_opened: " + result.error, "error");
    await refreshHome();
  }

  async function refreshHome() {
    if (app.tab !== "home") return;
    const data = await api(`/ui/home?user=${encodeURIComponent(app.user)}`);
    if (!data.ok || app.tab !== "home") return;
    const view = data.view;
    if (!view) {
      $("#home").replaceChildren(el("div", { class: "empty" },
        "The app has not published a Home tab for you yet."));
      return;
    }
    const key = view.id;
    const surface = {
      key, names: names(), state: app.modalState[key] = app.modalState[key] || {},
      onAction: (action) => api("/ui/action", {
        user: app.user, view_id: view.id, state: surface.state, ...action,
      }),
    };
    $("#home").replaceChildren(el("div", { class: "home-view", "data-view-id": view.id },
      render(view.blocks, surface)));
  }

  // ------------------------------------------------------------------- modals

  function stack() {
    app.modals[app.user] = app.modals[app.user] || [];
    return app.modals[app.user];
  }

  function showView(view, how) {
    const views = stack();
    const at = views.findIndex((v) => v.id === view.id);
    if (at >= 0) views[at] = view;
    else if (how === "update" && views.length) views[views.length - 1] = view;
    else views.push(view);
    renderModal();
  }

  function renderModal() {
    const root = $("#modal-root");
    const views = stack();
    if (!views.length) {
      root.replaceChildren();
      return;
    }
    const view = views[views.length - 1];
    const key = view.id;
    const surface = {
      key, names: names(), state: app.modalState[key] = app.modalState[key] || {},
      onAction: (action) => api("/ui/action", {
        user: app.user, view_id: view.id, state: surface.state, ...action,
      }),
    };
    const body = el("div", { class: "modal-body" }, render(view.blocks, surface));
    const close = el("button", { type: "button", class: "bk-button modal-close" },
      plainText(view.close) || "Cancel");
    close.addEventListener("click", () => closeModal(view));
    const footer = el("div", { class: "dialog-buttons" }, close);
    if (view.submit) {
      const submit = el("button", { type: "button", class: "bk-button bk-primary modal-submit" },
        plainText(view.submit));
      submit.addEventListener("click", () => submitModal(view, surface, submit));
      footer.append(submit);
    }
    const x = el("button", { type: "button", class: "modal-x", "aria-label": "Close" }, "×");
    x.addEventListener("click", () => closeModal(view));
    const dialog = el("div", {
      class: "dialog modal", role: "dialog", "aria-modal": "true",
      "aria-label": plainText(view.title), "data-view-id": view.id,
      "data-callback-id": view.callback_id || null,
    },
    el("header", { class: "modal-header" },
      views.length > 1 ? el("span", { class: "modal-depth", text: "‹" }) : "",
      el("h2", { text: plainText(view.title) }), x),
    body,
    el("div", { class: "modal-error", role: "alert", hidden: true }),
    footer);
    root.replaceChildren(el("div", { class: "overlay" }, dialog));
    const first = dialog.querySelector(".modal-body input, .modal-body textarea, " +
      ".modal-body select");
    if (first) first.focus();
  }

  function showErrors(errors) {
    const dialog = $("#modal-root .modal");
    if (!dialog) return;
    for (const node of dialog.querySelectorAll(".bk-input-error")) {
      node.hidden = true;
      node.textContent = "";
    }
    const general = dialog.querySelector(".modal-error");
    general.hidden = true;
    for (const [blockId, message] of Object.entries(errors || {})) {
      const target = [...dialog.querySelectorAll(".block")]
        .find((b) => b.dataset.blockId === blockId);
      const slot = target && target.querySelector(".bk-input-error");
      if (slot) {
        slot.textContent = message;
        slot.hidden = false;
      } else {
        general.textContent = message;
        general.hidden = false;
      }
    }
  }

  async function submitModal(view, surface, button) {
    const dialog = $("#modal-root .modal");
    const missing = {};
    for (const b of view.blocks || []) {
      if (b.type !== "input" || b.optional) continue;
      const value = (surface.state[b.block_id] || {})[(b.element || {}).action_id];
      const empty = value === undefined || value === null || value === "" ||
        (Array.isArray(value) && !value.length);
      if (empty) missing[b.block_id] = "Please complete this required field.";
    }
    if (Object.keys(missing).length) {
      // Slack checks required inputs in the client before anything is sent.
      showErrors(missing);
      return;
    }
    button.disabled = true;
    dialog.setAttribute("aria-busy", "true");
    const result = await api("/ui/submit", {
      user: app.user, view_id: view.id, state: surface.state,
    });
    button.disabled = false;
    dialog.removeAttribute("aria-busy");
    if (!result.ok) {
      showErrors({ "": "We had some trouble connecting. Try again? (" + result.error + ")" });
      return;
    }
    const views = stack();
    if (result.action === "errors") {
      showErrors(result.errors);
    } else if (result.action === "update") {
      views[views.length - 1] = result.view;
      renderModal();
    } else if (result.action === "push") {
      views.push(result.view);
      renderModal();
    } else if (result.action === "clear") {
      views.length = 0;
      renderModal();
    } else {
      views.pop();
      delete app.modalState[view.id];
      renderModal();
    }
  }

  async function closeModal(view) {
    const views = stack();
    const at = views.findIndex((v) => v.id === view.id);
    if (at >= 0) views.splice(at, 1);
    delete app.modalState[view.id];
    renderModal();
    const result = await api("/ui/close", { user: app.user, view_id: view.id });
    if (!result.ok) toast("view_closed was not acknowledged: " + result.error, "error");
  }

  // ------------------------------------------------------------------ sending

  async function send(text, threadTs) {
    const result = await api("/ui/send", {
      user: app.user, channel: app.thread && threadTs ? app.thread.channel : app.channel,
      text, thread_ts: threadTs || null,
    });
    if (!result.ok && result.error !== "invalid_command") {
      toast("Not delivered: " + result.error, "error");
    }
    scheduleRefresh();
  }

  function composer(form, area, threadTs) {
    const submit = (e) => {
      e.preventDefault();
      const text = area.value;
      if (!text.trim()) return;
      area.value = "";
      send(text, threadTs ? threadTs() : null);
    };
    form.addEventListener("submit", submit);
    area.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) submit(e);
    });
  }

  // ------------------------------------------------------------------ events

  function connect() {
    if (app.events) app.events.close();
    const source = new EventSource(`/ui/events?user=${encodeURIComponent(app.user)}`);
    app.events = source;
    source.onopen = () => {
      document.body.dataset.live = "true";
      scheduleRefresh();
    };
    source.onerror = () => { document.body.dataset.live = "false"; };
    source.onmessage = (e) => {
      const event = JSON.parse(e.data);
      switch (event.type) {
        case "message":
        case "message_changed":
        case "message_deleted":
        case "reaction_added":
        case "ephemeral": {
          const inThread = app.thread && event.channel === app.thread.channel &&
            (event.thread_ts === app.thread.ts || event.ts === app.thread.ts);
          if (event.channel === app.channel || inThread) {
            scheduleRefresh();
          }
          const topLevel = !event.thread_ts || event.thread_ts === event.ts;
          if (event.type === "message" && event.channel !== app.channel && topLevel) {
            app.unread[event.channel] = (app.unread[event.channel] || 0) + 1;
            renderSidebar();
          }
          break;
        }
        case "view_opened":
        case "view_pushed":
          showView(event.view, "open");
          break;
        case "view_updated":
          if (stack().some((v) => v.id === event.view.id)) showView(event.view, "replace");
          break;
        case "home_published":
          refreshHome();
          break;
        case "api_error":
          toast(`The app called ${event.method}: ${event.error}`, "error");
          break;
        case "clock":
          setClock(event);
          break;
        default:
          break;
      }
    };
  }

  // -------------------------------------------------------------------- start

  async function switchUser(user) {
    const wasDm = isDm(app.channel);
    app.user = user;
    app.unread = {};
    closeThread();
    connect();
    renderModal();
    await openChannel(wasDm ? dmOf(user) : app.channel, wasDm ? app.tab : "messages");
  }

  async function start() {
    let ws = await api("/ui/workspace");
    while (!ws.ok || !ws.ready) {
      $("#channel-title").textContent = "Starting the bot…";
      await new Promise((r) => setTimeout(r, 500));
      ws = await api("/ui/workspace");
    }
    app.ws = ws;
    document.title = `${ws.team.name} — ${ws.authority || "Front Door"}`;
    $("#team-name").textContent = ws.team.name;
    $("#authority").textContent = ws.authority ? `${ws.authority} policy` : "";
    const params = new URLSearchParams(location.hash.slice(1));
    app.user = person(params.get("user")) ? params.get("user") : ws.people[0].id;
    const wanted = params.get("channel");
    const known = ws.channels.some((c) => c.id === wanted) || wanted === dmOf(app.user);
    app.channel = known ? wanted : dmOf(app.user);
    app.tab = params.get("tab") === "home" && isDm(app.channel) ? "home" : "messages";
    setClock(ws.clock);
    setInterval(tick, 1000);

    $("#person").addEventListener("change", (e) => switchUser(e.target.value));
    $("#tab-home").addEventListener("click", () => openChannel(app.channel, "home"));
    $("#tab-messages").addEventListener("click", () => openChannel(app.channel, "messages"));
    $("#thread-close").addEventListener("click", closeThread);
    document.addEventListener("click", followMessageLink);
    for (const button of document.querySelectorAll("[data-advance]")) {
      button.addEventListener("click", () => moveClock({ minutes: Number(button.dataset.advance) }));
    }
    $("#clock-to").addEventListener("submit", (e) => {
      e.preventDefault();
      const value = $("#clock-to-input").value;
      if (value) moveClock({ to: value });
    });
    composer($("#composer-form"), $("#composer"), null);
    composer($("#thread-form"), $("#thread-composer"), () => app.thread && app.thread.ts);
    document.addEventListener("keydown", (e) => {
      if (e.key !== "Escape") return;
      const views = stack();
      if (views.length && !document.querySelector(".confirm-overlay")) {
        closeModal(views[views.length - 1]);
      }
    });

    connect();
    await openChannel(app.channel, app.tab);
    document.body.dataset.ready = "true";
  }

  start();
})();
