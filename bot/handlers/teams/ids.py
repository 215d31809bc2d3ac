"""What a Teams card's actions send back, as the listeners read it: the action's name
(``action`` in an Action.Submit's data, ``verb`` for Action.Execute) and the fields of its
data. The same names and values as the renderer's (``cards/verbs.py`` on the renderer's
branch: after the merge, import them from there and delete this module).
"""

from __future__ import annotations

# Data fields.
ACTION = "action"  # Action.Submit: which action (Action.Execute has "verb")
FLOW = "flow"
VERSION = "version"
QUESTION = "question"
CARD = "card"
CONSULTATION = "consultation"
PENDING = "pending"  # the listener's key for an answer it holds while it asks
IN_ANSWER = "answer"
IN_SNOOZE = "snooze"  # minutes

# The guided flow (Action.Submit in the professional's chat).
FLOW_ANSWER = "flow.answer"
FLOW_SKIP = "flow.skip"
FLOW_BACK = "flow.back"
FLOW_CANCEL = "flow.cancel"
NONAMES_REPHRASE = "nonames.rephrase"
NONAMES_ORDINARY = "nonames.ordinary"

# Triage cards (Action.Execute: the card is redrawn in place).
CARD_APPROVE = "card.approve"
CARD_ASSIGN = "card.assign"
CARD_WRITTEN = "card.written"
CARD_SNOOZE = "card.snooze"

# Dialogs (task modules) opened from a triage card: Action.Submit with
# ``{"msteams": {"type": "task/fetch"}, "action": <one of these>, "card": id}``.
CARD_CHANGE = "card.change"
CARD_REQUEST_INFO = "card.request_info"
CARD_CLOSE = "card.close"
IN_RATING = "rating"
IN_OUTCOME = "outcome"
IN_TEXT = "text"  # the dialog's free text: a reason, a question
IN_ORDINARY = "ordinary"  # "the words asked about are ordinary words here"
CONSULT_ADVISE = "consult.advise"  # a dialog too: the advisor's outcome and advice
CONSULTATION = "consultation"
ADVICE_FOLLOWED = "advice.followed"  # Action.Execute in the professional's chat
ADVICE_NOT_FOLLOWED = "advice.not_followed"  # a dialog: what they do instead, and why
