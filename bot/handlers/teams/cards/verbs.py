"""What a Teams card's actions send back: the verb (Action.Execute) or ``action``
(Action.Submit) and the fields in their data. One place, so a renamed action cannot
silently stop working. The names are Slack's action ids, so logs read the same.

Every flow action carries the flow id, the step version it was drawn at and the question
id (``FLOW``, ``VERSION``, ``QUESTION``): a click on an old card is refused as in Slack.
Inputs are read from the submitted data by their ids (``IN_*``).
"""

from __future__ import annotations

# Data fields.
ACTION = "action"  # Action.Submit: which action (Action.Execute has "verb")
FLOW = "flow"
VERSION = "version"
QUESTION = "question"
CARD = "card"
CONSULTATION = "consultation"
EPISODE = "episode"
DUE = "due"  # a CAF action's meeting due date ("" when it is about no meeting)
PENDING = "pending"  # the listener's key for an answer it holds while it asks

# The guided flow (Action.Submit in the professional's chat).
FLOW_ANSWER = "flow.answer"
FLOW_SKIP = "flow.skip"
FLOW_BACK = "flow.back"
FLOW_CANCEL = "flow.cancel"
NONAMES_REPHRASE = "nonames.rephrase"
NONAMES_ORDINARY = "nonames.ordinary"
IN_ANSWER = "answer"

# Triage cards (Action.Execute: the card is redrawn in place).
CARD_APPROVE = "card.approve"
CARD_CHANGE = "card.change"
CARD_REQUEST_INFO = "card.request_info"
CARD_ASSIGN = "card.assign"
CARD_CLOSE = "card.close"
CARD_WRITTEN = "card.written"
CARD_SNOOZE = "card.snooze"
CAF_ROUTE_CARD = "caf.route_card"
IN_SNOOZE = "snooze"  # minutes

# Consultations and the advice.
CONSULT_ADVISE = "consult.advise"
ADVICE_FOLLOWED = "advice.followed"
ADVICE_NOT_FOLLOWED = "advice.not_followed"
ADVICE_CHANGE = "advice.change"
INFO_REPLY = "info.reply"

# CAF episodes.
CAF_HELD = "caf.held"
CAF_REARRANGED = "caf.rearranged"
CAF_STUCK = "caf.stuck"
CAF_CLOSE = "caf.close"
CAF_SET_LEAD = "caf.set_lead"
# A CAF manager's quality assurance (the QA card; the returned chat's button).
QA = "qa"  # the request's id
CAF_QA_AGREE = "caf_qa.agree"
CAF_QA_RETURN = "caf_qa.return"  # with the reasons in IN_TEXT
CAF_QA_RESUBMIT = "caf_qa.resubmit"
CAF_REGISTER = "modal.caf_register"  # ``caf``: the registration dialog (task module)
IN_CAF_REFERENCE = "caf_reference"
IN_CAF_LEAD = "caf_lead"
IN_CAF_COORDINATOR = "caf_coordinator"
IN_CAF_COMPLETED = "caf_completed"
IN_CAF_CONSENT = "caf_consent"

# The "My queue" card in the personal chat: redrawn when it is opened (its ``refresh``).
HOME_REFRESH = "home.refresh"

# Inputs of the listeners' dialogs (task modules).
IN_RATING = "rating"
IN_OUTCOME = "outcome"
IN_TEXT = "text"  # the dialog's free text: a reason, a question
IN_ORDINARY = "ordinary"  # "the words asked about are ordinary words here"
IN_DATE = "date"  # a CAF dialog's date: held on, rearranged to
IN_LEAD = "lead"  # a CAF dialog's lead professional (an Entra object id, from the picker)
IN_REFERENCE = "reference"  # the route dialog's EHM reference
IN_COORDINATOR = "coordinator"  # the route dialog's CAF co-ordinator (the people picker)
IN_CONSENT = "consent"  # the route dialog's "the family consented": "yes" / "no"

# The consultation log's filter dialog (its inputs; the outcome is IN_OUTCOME, the search
# words IN_TEXT).
CAFLOG_FILTER = "caflog.filter"
IN_SINCE = "since"
IN_UNTIL = "until"
IN_CATEGORY = "category"
IN_AGENCY = "agency"
IN_ADVISOR = "advisor"
