/* How both sandbox pages (Slack's and Teams') call the sandbox's server: one function.
 *
 * Loaded before app.js and teams.js (static/index.html, static/teams.html).
 */
"use strict";

window.SandboxApi = (() => {
  // The server refuses writes without this start's token (bot/sandbox/ui.py PageGuard);
  // a page on another site can neither read it nor send the header.
  const TOKEN = document.querySelector('meta[name="frontdoor-token"]').content;

  async function api(path, body) {
    const init = body === undefined ? {} : {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Frontdoor-Token": TOKEN },
      body: JSON.stringify(body),
    };
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      return { ok: false, error: "the sandbox is not reachable" };
    }
    let data;
    try {
      data = await response.json();
    } catch (_) {
      return { ok: false, error: `HTTP ${response.status}` };
    }
    if (response.status === 403 && /^token_/.test(data.error || "")) {
      // The sandbox was restarted since this page was loaded: its token is new.
      return { ok: false, error: "the sandbox was restarted: reload this page" };
    }
    return data;
  }

  return { api };
})();
