"""The local Slack sandbox: a fake Slack Web API and a signed-request sender.

* :mod:`bot.sandbox.webapi` - ``FakeSlack``, an in-memory workspace served over HTTP.
* :mod:`bot.sandbox.signing` - ``sign`` and ``SlackSender``, Slack's side of the bot's endpoint.
* :mod:`bot.sandbox.blockcheck` - Block Kit limits and error wording used by the fake.
"""
