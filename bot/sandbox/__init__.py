"""The local Slack sandbox (``frontdoor sandbox``): a workspace that speaks Slack's protocol.

* :mod:`bot.sandbox.webapi` - ``FakeSlack``, an in-memory workspace served over HTTP.
* :mod:`bot.sandbox.signing` - ``sign`` and ``SlackSender``, Slack's side of the bot's endpoint.
* :mod:`bot.sandbox.blockcheck` - Block Kit limits and error wording used by the fake.
* :mod:`bot.sandbox.demo` - the demo people and the policy's channels (shared with the tests).
* :mod:`bot.sandbox.ui` - the browser page's API (JSON + Server-Sent Events) and the clock.
* :mod:`bot.sandbox.run` - one process: the fake, the page and the real bot together.
"""
