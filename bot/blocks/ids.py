"""Action, callback and block IDs shared by the renderers and the handlers.

One place, so a renamed button cannot silently stop working.
"""

from __future__ import annotations

# Guided flows in the professional's DM. A question's block_id is
# ``q:{flow_id}:{question_id}``; handlers pass the question id as ``expect`` so
# that a second click on an old message changes nothing.
FLOW_ANSWER = "flow.answer"  # button or static select: value is the option value
FLOW_MULTI = "flow.multi"  # multi static select (state only; submitted by FLOW_MULTI_DONE)
FLOW_MULTI_DONE = "flow.multi_done"
FLOW_DATE = "flow.date"  # datepicker
FLOW_SKIP = "flow.skip"  # optional question
FLOW_BACK = "flow.back"
FLOW_CANCEL = "flow.cancel"
QUESTION_BLOCK_PREFIX = "q"

# Triage cards in a manager channel; the button value is the card id.
CARD_APPROVE = "card.approve"
CARD_CHANGE = "card.change"
CARD_REQUEST_INFO = "card.request_info"
CARD_ASSIGN = "card.assign"
CARD_CLOSE = "card.close"
CARD_SNOOZE = "card.snooze"  # overflow/static select: value "{card_id}:{minutes}"

# Consultation cards in the consultation duty channel; value is the consultation id.
CONSULT_ADVISE = "consult.advise"
# The professional's answer to the advice (DM); value is the consultation id.
ADVICE_FOLLOWED = "advice.followed"
ADVICE_NOT_FOLLOWED = "advice.not_followed"
# The referrer's reply to a request for more information; value is the card id.
INFO_REPLY = "info.reply"

# Modals: callback ids; private_metadata carries the subject id.
MODAL_CHANGE_RATING = "modal.change_rating"
MODAL_CLOSE = "modal.close"
MODAL_REQUEST_INFO = "modal.request_info"
MODAL_ADVICE = "modal.advice"
MODAL_NOT_FOLLOWED = "modal.not_followed"
MODAL_INFO_REPLY = "modal.info_reply"

# Input blocks inside modals: (block_id, action_id) pairs.
IN_RATING = ("rating", "rating")
IN_REASON = ("reason", "reason")
IN_OUTCOME = ("outcome", "outcome")
IN_ADVICE = ("advice", "advice")
IN_QUESTION = ("question", "question")
IN_REPLY = ("reply", "reply")
