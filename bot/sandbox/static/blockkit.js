/* Block Kit rendering for the Front Door sandbox: plain DOM nodes, no framework, no HTML parsing.
 *
 * BlockKit.render(blocks, surface) returns a DocumentFragment. A surface is
 *   { key, names: {users, channels, usergroups}, state: {block_id: {action_id: value}},
 *     onAction(action) -> Promise<{ok, error}> }
 * Values kept in state are plain: text, an option value, a list of option values,
 * "YYYY-MM-DD", "HH:MM". Elements inside input blocks only change the state (as
 * in Slack, unless dispatch_action is set); elsewhere they also call onAction.
 */
"use strict";

const BlockKit = (() => {
  const EMOJI = {
    red_circle: "🔴", large_orange_circle: "🟠", large_yellow_circle: "🟡",
    large_green_circle: "🟢", large_blue_circle: "🔵", white_circle: "⚪", black_circle: "⚫",
    rotating_light: "🚨", warning: "⚠️", no_entry: "⛔", no_entry_sign: "🚫", lock: "🔒",
    unlock: "🔓", hourglass_flowing_sand: "⏳", hourglass: "⌛", alarm_clock: "⏰",
    white_check_mark: "✅", heavy_check_mark: "✔️", ballot_box_with_check: "☑️", x: "❌",
    speech_balloon: "💬", memo: "📝", pencil: "📝", signpost: "🪧", telephone_receiver: "📞",
    phone: "☎️", telephone: "☎️", crescent_moon: "🌙", calendar: "📆", date: "📅",
    spiral_calendar_pad: "🗓️", clipboard: "📋", bookmark_tabs: "📑", page_facing_up: "📄",
    bell: "🔔", mega: "📣", loudspeaker: "📢", eyes: "👀", wave: "👋", tada: "🎉",
    information_source: "ℹ️", bulb: "💡", question: "❓", exclamation: "❗",
    heavy_exclamation_mark: "❗", raising_hand: "🙋", busts_in_silhouette: "👥",
    bust_in_silhouette: "👤", house: "🏠", school: "🏫", hospital: "🏥", police_car: "🚓",
    child: "🧒", baby: "👶", family: "👪", handshake: "🤝", shield: "🛡️", mag: "🔍",
    link: "🔗", arrow_right: "➡️", arrow_forward: "▶️", leftwards_arrow_with_hook: "↩️",
    zzz: "💤", sleeping: "😴", fire: "🔥", sos: "🆘", stop_sign: "🛑", construction: "🚧",
    thumbsup: "👍", "+1": "👍", thumbsdown: "👎", "-1": "👎", pushpin: "📌",
    round_pushpin: "📍", inbox_tray: "📥", outbox_tray: "📤", envelope: "✉️",
    email: "📧", bar_chart: "📊", chart_with_upwards_trend: "📈", file_folder: "📁",
    heart: "❤️", star: "⭐", sparkles: "✨", grey_question: "❔", hammer_and_wrench: "🛠️",
  };

  const ENTITY = { "&amp;": "&", "&lt;": "<", "&gt;": ">" };

  /** Slack escapes only &, < and >. */
  function decode(text) {
    return String(text).replace(/&(amp|lt|gt);/g, (m) => ENTITY[m]);
  }

  function emojify(text) {
    return String(text).replace(/:([a-z0-9_+\-]+):/g, (m, name) => EMOJI[name] || m);
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // ------------------------------------------------------------------ mrkdwn

  const INLINE = new RegExp(
    [
      "(?<code>`[^`\\n]+`)",
      "(?<angle><[^<>\\n]+>)",
      "(?<bold>(?<![\\w*])\\*(?=[^\\s*])[^*\\n]*?(?<=\\S)\\*(?![\\w*]))",
      "(?<italic>(?<![\\w_])_(?=[^\\s_])[^_\\n]*?(?<=\\S)_(?![\\w_]))",
      "(?<strike>(?<![\\w~])~(?=[^\\s~])[^~\\n]*?(?<=\\S)~(?![\\w~]))",
      "(?<emoji>:[a-z0-9_+\\-]+:)",
      "(?<newline>\\n)",
    ].join("|"),
    "g",
  );

  function safeUrl(url) {
    try {
      const parsed = new URL(url, window.location.href);
      return ["http:", "https:", "mailto:"].includes(parsed.protocol) ? parsed.href : null;
    } catch (_) {
      return null;
    }
  }

  function angle(inner, names) {
    const bar = inner.indexOf("|");
    const target = bar >= 0 ? inner.slice(0, bar) : inner;
    const label = bar >= 0 ? decode(inner.slice(bar + 1)) : null;
    if (target.startsWith("@")) {
      const id = target.slice(1);
      const user = (names.users || {})[id];
      return el("span", { class: "mention", "data-user": id },
        "@" + (label || (user ? user.real_name : id)));
    }
    if (target.startsWith("#")) {
      const id = target.slice(1);
      return el("span", { class: "mention mention-channel", "data-channel": id },
        "#" + (label || (names.channels || {})[id] || id));
    }
    if (target.startsWith("!subteam^")) {
      const id = target.slice("!subteam^".length);
      const handle = (names.usergroups || {})[id];
      return el("span", { class: "mention mention-group", "data-usergroup": id },
        label || "@" + (handle || id));
    }
    if (target.startsWith("!date^")) {
      return document.createTextNode(label || target);
    }
    if (target.startsWith("!")) {
      return el("span", { class: "mention" }, "@" + (label || target.slice(1)));
    }
    const href = safeUrl(decode(target));
    if (!href) return document.createTextNode(label || decode(target));
    return el("a", { href, target: "_blank", rel: "noopener noreferrer" }, label || decode(target));
  }

  function inline(text, names, into) {
    let last = 0;
    for (const match of text.matchAll(INLINE)) {
      if (match.index > last) into.append(decode(text.slice(last, match.index)));
      const g = match.groups;
      const raw = match[0];
      if (g.code) into.append(el("code", { text: decode(raw.slice(1, -1)) }));
      else if (g.angle) into.append(angle(raw.slice(1, -1), names));
      else if (g.bold) into.append(inline(raw.slice(1, -1), names, el("strong")));
      else if (g.italic) into.append(inline(raw.slice(1, -1), names, el("em")));
      else if (g.strike) into.append(inline(raw.slice(1, -1), names, el("s")));
      else if (g.emoji) into.append(emojify(raw));
      else if (g.newline) into.append(el("br"));
      last = match.index + raw.length;
    }
    if (last < text.length) into.append(decode(text.slice(last)));
    return into;
  }

  /** Slack mrkdwn as DOM: *bold*, _italic_, ~strike~, `code`, ```pre```, > quotes, links. */
  function mrkdwn(text, names) {
    const out = document.createDocumentFragment();
    const parts = String(text || "").split(/```/);
    parts.forEach((part, i) => {
      if (i % 2 === 1 && i < parts.length - 1) {
        out.append(el("pre", { text: decode(part.replace(/^\n/, "")) }));
        return;
      }
      if (i % 2 === 1) part = "```" + part; // an unclosed fence is plain text
      const lines = part.split("\n");
      let quote = null;
      let buffer = [];
      const flush = () => {
        if (buffer.length) out.append(inline(buffer.join("\n"), names, el("span")));
        buffer = [];
      };
      for (const line of lines) {
        if (line.startsWith("&gt; ") || line === "&gt;") {
          flush();
          if (!quote) {
            quote = el("blockquote");
            out.append(quote);
          } else {
            quote.append(el("br"));
          }
          inline(line.replace(/^&gt; ?/, ""), names, quote);
        } else {
          quote = null;
          buffer.push(line);
        }
      }
      flush();
    });
    return out;
  }

  function textObject(obj, names) {
    if (!obj) return document.createTextNode("");
    if (typeof obj === "string") return mrkdwn(obj, names);
    if (obj.type === "mrkdwn") return mrkdwn(obj.text, names);
    return document.createTextNode(obj.emoji === false ? obj.text : emojify(obj.text || ""));
  }

  function plainText(obj) {
    if (!obj) return "";
    return obj.emoji === false ? obj.text || "" : emojify(obj.text || "");
  }

  // --------------------------------------------------------------- elements

  function optionsOf(element) {
    const all = [...(element.options || [])];
    for (const group of element.option_groups || []) all.push(...(group.options || []));
    return all;
  }

  function setState(surface, blockId, actionId, value) {
    surface.state[blockId] = surface.state[blockId] || {};
    surface.state[blockId][actionId] = value;
  }

  function getState(surface, blockId, actionId) {
    return (surface.state[blockId] || {})[actionId];
  }

  function confirmFirst(confirm) {
    if (!confirm) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (answer) => {
        overlay.remove();
        resolve(answer);
      };
      const deny = el("button", { class: "bk-button", onclick: () => done(false) },
        plainText(confirm.deny) || "Cancel");
      const ok = el("button", {
        class: "bk-button " + (confirm.style === "danger" ? "bk-danger" : "bk-primary"),
        onclick: () => done(true),
      }, plainText(confirm.confirm) || "Yes");
      const overlay = el("div", { class: "overlay confirm-overlay" },
        el("div", { class: "dialog confirm", role: "alertdialog", "aria-modal": "true",
          "aria-label": plainText(confirm.title) || "Are you sure?" },
        el("h2", { text: plainText(confirm.title) || "Are you sure?" }),
        el("div", { class: "confirm-text" }, textObject(confirm.text, {})),
        el("div", { class: "dialog-buttons" }, deny, ok)));
      document.body.append(overlay);
      ok.focus();
    });
  }

  async function fire(surface, node, action, confirm) {
    if (!(await confirmFirst(confirm))) return;
    node.classList.add("busy");
    node.setAttribute("aria-busy", "true");
    const old = node.parentElement && node.parentElement.querySelector(".bk-warning");
    if (old) old.remove();
    try {
      const result = await surface.onAction(action);
      if (result && !result.ok) {
        node.after(el("span", {
          class: "bk-warning", role: "img",
          "aria-label": "The app did not respond: " + (result.error || "error"),
          title: "The app did not respond: " + (result.error || "error"),
        }, "⚠️"));
      }
    } finally {
      node.classList.remove("busy");
      node.removeAttribute("aria-busy");
    }
  }

  function element(elt, blockId, surface, dispatch) {
    const aid = elt.action_id || "";
    const data = { "data-action-id": aid, "data-block-id": blockId, "data-type": elt.type };
    const act = (extra) => ({ action_id: aid, block_id: blockId, type: elt.type, ...extra });
    switch (elt.type) {
      case "button": {
        const cls = "bk-button" + (elt.style === "primary" ? " bk-primary" : "") +
          (elt.style === "danger" ? " bk-danger" : "");
        const node = el("button", { class: cls, type: "button", ...data, "data-value": elt.value,
          title: elt.accessibility_label },
        plainText(elt.text));
        node.addEventListener("click", () => {
          const href = elt.url && safeUrl(elt.url);
          if (href) window.open(href, "_blank", "noopener");
          fire(surface, node, act({ value: elt.value }), elt.confirm);
        });
        return node;
      }
      case "static_select":
      case "external_select":
      case "users_select":
      case "conversations_select":
      case "channels_select": {
        const node = el("select", { class: "bk-select", ...data });
        let options = optionsOf(elt).map((o) => ({ value: o.value, label: plainText(o.text) }));
        let initial = elt.initial_option ? elt.initial_option.value : undefined;
        if (elt.type === "users_select") {
          options = Object.entries(surface.names.users || {}).filter(([, u]) => !u.is_bot)
            .map(([id, u]) => ({ value: id, label: u.real_name }));
          initial = elt.initial_user;
        } else if (elt.type !== "static_select" && elt.type !== "external_select") {
          options = Object.entries(surface.names.channels || {})
            .map(([id, name]) => ({ value: id, label: "#" + name }));
          initial = elt.initial_conversation || elt.initial_channel;
        }
        node.append(el("option", { value: "", disabled: true, text: plainText(elt.placeholder)
          || "Select an item" }));
        const groups = elt.type === "static_select" && elt.option_groups;
        if (groups) {
          for (const group of elt.option_groups) {
            const og = el("optgroup", { label: plainText(group.label) });
            for (const o of group.options || []) {
              og.append(el("option", { value: o.value, text: plainText(o.text) }));
            }
            node.append(og);
          }
        } else {
          for (const o of options) node.append(el("option", { value: o.value, text: o.label }));
        }
        const current = getState(surface, blockId, aid) ?? initial;
        node.value = current ?? "";
        if (current !== undefined && current !== null) setState(surface, blockId, aid, current);
        node.addEventListener("change", () => {
          setState(surface, blockId, aid, node.value);
          if (!dispatch) return;
          const extra = elt.type === "static_select" || elt.type === "external_select"
            ? { selected_option: node.value } : { value: node.value };
          fire(surface, node, act(extra), elt.confirm);
        });
        return node;
      }
      case "multi_static_select":
      case "multi_users_select":
      case "multi_conversations_select":
      case "multi_channels_select": {
        let options = optionsOf(elt).map((o) => ({ value: o.value, label: plainText(o.text) }));
        let initial = (elt.initial_options || []).map((o) => o.value);
        if (elt.type === "multi_users_select") {
          options = Object.entries(surface.names.users || {}).filter(([, u]) => !u.is_bot)
            .map(([id, u]) => ({ value: id, label: u.real_name }));
          initial = elt.initial_users || [];
        } else if (elt.type !== "multi_static_select") {
          options = Object.entries(surface.names.channels || {})
            .map(([id, name]) => ({ value: id, label: "#" + name }));
          initial = elt.initial_conversations || elt.initial_channels || [];
        }
        const chosen = new Set(getState(surface, blockId, aid) ?? initial);
        setState(surface, blockId, aid, [...chosen]);
        const summary = el("summary", { class: "bk-multi-summary" });
        const label = () => {
          const names = options.filter((o) => chosen.has(o.value)).map((o) => o.label);
          summary.textContent = names.length ? names.join(", ")
            : plainText(elt.placeholder) || "Select items";
          summary.classList.toggle("placeholder", !names.length);
        };
        const list = el("div", { class: "bk-multi-options", role: "group" });
        for (const o of options) {
          const box = el("input", { type: "checkbox", value: o.value, checked: chosen.has(o.value),
            "data-value": o.value });
          box.addEventListener("change", () => {
            if (box.checked) chosen.add(o.value);
            else chosen.delete(o.value);
            const ordered = options.map((x) => x.value).filter((v) => chosen.has(v));
            setState(surface, blockId, aid, ordered);
            label();
            if (dispatch) {
              const key = elt.type === "multi_static_select" ? "selected_options" : "value";
              fire(surface, node, act({ [key]: ordered }));
            }
          });
          list.append(el("label", { class: "bk-multi-option" }, box, " ", o.label));
        }
        const node = el("details", { class: "bk-multi", ...data }, summary, list);
        label();
        return node;
      }
      case "overflow": {
        const menu = el("div", { class: "bk-overflow-menu", role: "menu" });
        const node = el("details", { class: "bk-overflow", ...data },
          el("summary", { class: "bk-button", "aria-label": "More actions" }, "⋯"), menu);
        for (const o of elt.options || []) {
          const item = el("button", { type: "button", role: "menuitem", "data-value": o.value },
            plainText(o.text));
          item.addEventListener("click", () => {
            node.open = false;
            fire(surface, node, act({ selected_option: o.value }), elt.confirm);
          });
          menu.append(item);
        }
        return node;
      }
      case "datepicker":
      case "timepicker": {
        const isDate = elt.type === "datepicker";
        const initial = isDate ? elt.initial_date : elt.initial_time;
        const node = el("input", { type: isDate ? "date" : "time", class: "bk-date", ...data,
          "aria-label": plainText(elt.placeholder) || (isDate ? "Choose a date" : "Choose a time") });
        const current = getState(surface, blockId, aid) ?? initial;
        if (current) {
          node.value = current;
          setState(surface, blockId, aid, current);
        }
        node.addEventListener("change", () => {
          if (!node.value) return;
          setState(surface, blockId, aid, node.value);
          if (!dispatch) return;
          const extra = isDate ? { selected_date: node.value } : { value: node.value };
          fire(surface, node, act(extra), elt.confirm);
        });
        return node;
      }
      case "radio_buttons":
      case "checkboxes": {
        const multi = elt.type === "checkboxes";
        const initial = multi ? (elt.initial_options || []).map((o) => o.value)
          : elt.initial_option && elt.initial_option.value;
        let current = getState(surface, blockId, aid) ?? initial;
        if (current !== undefined) setState(surface, blockId, aid, current);
        const name = `${surface.key}:${blockId}:${aid}`;
        const node = el("div", { class: "bk-choices", role: multi ? "group" : "radiogroup",
          ...data });
        for (const o of elt.options || []) {
          const checked = multi ? (current || []).includes(o.value) : current === o.value;
          const input = el("input", { type: multi ? "checkbox" : "radio", name, value: o.value,
            checked });
          input.addEventListener("change", () => {
            if (multi) {
              current = [...node.querySelectorAll("input:checked")].map((i) => i.value);
            } else {
              current = o.value;
            }
            setState(surface, blockId, aid, current);
            if (dispatch) {
              const extra = multi ? { selected_options: current } : { selected_option: current };
              fire(surface, node, act(extra));
            }
          });
          const label = el("label", { class: "bk-choice" }, input, " ", textObject(o.text,
            surface.names));
          if (o.description) {
            label.append(el("span", { class: "bk-choice-help" }, textObject(o.description,
              surface.names)));
          }
          node.append(label);
        }
        return node;
      }
      case "plain_text_input":
      case "email_text_input":
      case "url_text_input":
      case "number_input": {
        const type = { email_text_input: "email", url_text_input: "url",
          number_input: "number" }[elt.type] || "text";
        const attrs = { class: "bk-text", ...data, placeholder: plainText(elt.placeholder),
          maxlength: elt.max_length, minlength: elt.min_length };
        const node = elt.multiline ? el("textarea", { ...attrs, rows: 4 })
          : el("input", { ...attrs, type });
        const current = getState(surface, blockId, aid) ?? elt.initial_value;
        if (current !== undefined && current !== null) {
          node.value = current;
          setState(surface, blockId, aid, current);
        }
        node.addEventListener("input", () => setState(surface, blockId, aid, node.value));
        if (dispatch) {
          node.addEventListener("keydown", (e) => {
            if (e.key === "Enter" && !e.shiftKey && !elt.multiline) {
              e.preventDefault();
              fire(surface, node, act({ value: node.value }));
            }
          });
        }
        return node;
      }
      case "image":
        return image(elt);
      default:
        return el("span", { class: "bk-unknown" }, `[unsupported element: ${elt.type}]`);
    }
  }

  function image(elt) {
    const src = elt.image_url && safeUrl(elt.image_url);
    const sameOrigin = src && new URL(src).origin === window.location.origin;
    if (sameOrigin) return el("img", { class: "bk-image", src, alt: elt.alt_text || "" });
    // Offline: remote images are not fetched; their alt text stands in.
    return el("span", { class: "bk-image-alt", title: elt.alt_text || "" },
      "🖼 " + (elt.alt_text || "image"));
  }

  // ------------------------------------------------------------------ blocks

  function section(block, surface) {
    const body = el("div", { class: "bk-section-body" });
    if (block.text) body.append(el("div", { class: "bk-text-body" }, textObject(block.text,
      surface.names)));
    if (block.fields && block.fields.length) {
      const grid = el("div", { class: "bk-fields" });
      for (const field of block.fields) {
        grid.append(el("div", { class: "bk-field" }, textObject(field, surface.names)));
      }
      body.append(grid);
    }
    const node = el("div", { class: "bk-section" }, body);
    if (block.accessory) {
      node.append(el("div", { class: "bk-accessory" },
        element(block.accessory, block.block_id, surface, true)));
    }
    return node;
  }

  function richText(block, names) {
    const node = el("div", { class: "bk-rich-text" });
    const walk = (elements, into) => {
      for (const item of elements || []) {
        if (item.type === "text") {
          const style = item.style || {};
          let piece = document.createTextNode(item.text || "");
          if (style.code) piece = el("code", {}, piece);
          if (style.bold) piece = el("strong", {}, piece);
          if (style.italic) piece = el("em", {}, piece);
          if (style.strike) piece = el("s", {}, piece);
          into.append(piece);
        } else if (item.type === "link") {
          const href = safeUrl(item.url);
          into.append(href ? el("a", { href, target: "_blank", rel: "noopener noreferrer" },
            item.text || item.url) : item.text || item.url);
        } else if (item.type === "user") {
          into.append(angle("@" + item.user_id, names));
        } else if (item.type === "channel") {
          into.append(angle("#" + item.channel_id, names));
        } else if (item.type === "emoji") {
          into.append(emojify(`:${item.name}:`));
        } else if (item.elements) {
          const tag = { rich_text_preformatted: "pre", rich_text_quote: "blockquote",
            rich_text_list: item.style === "ordered" ? "ol" : "ul" }[item.type] || "div";
          const child = el(tag);
          if (item.type === "rich_text_list") {
            for (const sub of item.elements) child.append(walk(sub.elements, el("li")));
          } else {
            walk(item.elements, child);
          }
          into.append(child);
        }
      }
      return into;
    };
    return walk(block.elements, node);
  }

  function block(b, surface) {
    const id = b.block_id || "";
    const wrap = (cls, ...children) =>
      el("div", { class: `block ${cls}`, "data-block-id": id, "data-block-type": b.type },
        ...children);
    switch (b.type) {
      case "header":
        return wrap("bk-header", el("h3", { text: plainText(b.text) }));
      case "section":
        return wrap("bk-section-block", section({ ...b, block_id: id }, surface));
      case "context":
        return wrap("bk-context", ...(b.elements || []).map((e) =>
          e.type === "image" ? image(e)
            : el("span", { class: "bk-context-item" }, textObject(e, surface.names))));
      case "divider":
        return wrap("bk-divider", el("hr"));
      case "actions":
        return wrap("bk-actions", ...(b.elements || []).map((e) =>
          element(e, id, surface, true)));
      case "input": {
        const elementNode = element(b.element || {}, id, surface, Boolean(b.dispatch_action));
        const inputId = `in-${surface.key}-${id}`.replace(/[^\w-]/g, "_");
        if (elementNode.matches && elementNode.matches("input, textarea, select")) {
          elementNode.id = inputId;
        }
        const label = el("label", { class: "bk-label", for: inputId },
          plainText(b.label), b.optional ? el("span", { class: "optional" }, " (optional)") : "");
        return wrap("bk-input", label, elementNode,
          b.hint ? el("div", { class: "bk-hint" }, textObject(b.hint, surface.names)) : "",
          el("div", { class: "bk-input-error", role: "alert", hidden: true }));
      }
      case "image":
        return wrap("bk-image-block",
          b.title ? el("div", { class: "bk-image-title", text: plainText(b.title) }) : "",
          image(b));
      case "rich_text":
        return wrap("bk-rich", richText(b, surface.names));
      default:
        return wrap("bk-unknown", `[unsupported block: ${b.type}]`);
    }
  }

  /** Render a list of blocks for a surface (a message, a modal or a Home tab). */
  function render(blocks, surface) {
    const out = document.createDocumentFragment();
    for (const b of blocks || []) out.append(block(b, surface));
    return out;
  }

  return { render, mrkdwn, textObject, plainText, emojify, decode, el, confirmFirst };
})();

if (typeof window !== "undefined") window.BlockKit = BlockKit;
