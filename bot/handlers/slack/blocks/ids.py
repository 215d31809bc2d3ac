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
# "Could 'destiny' identify the child?": the private question about an uncertain word.
# The ordinary-word button's value carries the answer back (never stored by the bot).
NONAMES_REPHRASE = "nonames.rephrase"
NONAMES_ORDINARY = "nonames.ordinary"
# In a modal, the same question is a radio input under the text field.
IN_NONAMES = ("nonames_confirm", "nonames_confirm")

# Triage cards in a manager channel; the button value is the card id.
CARD_APPROVE = "card.approve"
CARD_CHANGE = "card.change"
CARD_REQUEST_INFO = "card.request_info"
CARD_ASSIGN = "card.assign"
CARD_CLOSE = "card.close"
CARD_WRITTEN = "card.written"  # the written referral confirming a phone referral arrived
CARD_SNOOZE = "card.snooze"  # overflow/static select: value "{card_id}:{minutes}"

# Consultation cards in the consultation duty channel; value is the consultation id.
CONSULT_ADVISE = "consult.advise"
# The professional's answer to the advice (DM); value is the consultation id.
ADVICE_FOLLOWED = "advice.followed"
ADVICE_NOT_FOLLOWED = "advice.not_followed"
ADVICE_CHANGE = "advice.change"
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

# --- CAF ------------------------------------------------------------------------------
# CAF episodes (bot/handlers/caf.py, bot/blocks/caf.py). Buttons on the CAF DMs carry
# "{episode_id}:{due date or ''}" so a click on an old message is recognised as stale.
CAF_HELD = "caf.held"  # meeting held on (date) -> MODAL_CAF_HELD
CAF_REARRANGED = "caf.rearranged"  # rearranged to (date) -> MODAL_CAF_REARRANGED
CAF_STUCK = "caf.stuck"  # stuck: ask for help -> MODAL_CAF_STUCK
CAF_CLOSE = "caf.close"  # close the CAF -> MODAL_CAF_CLOSE
CAF_SET_LEAD = "caf.set_lead"  # no lead professional: record one -> MODAL_CAF_SET_LEAD
CAF_ROUTE_CARD = "caf.route_card"  # on a decided Green triage card; value is the card id

MODAL_CAF_REGISTER = "modal.caf_register"  # /caf
MODAL_CAF_ROUTE = "modal.caf_route"  # private_metadata: the card id
MODAL_CAF_HELD = "modal.caf_held"  # private_metadata: "{episode_id}:{due}"
MODAL_CAF_REARRANGED = "modal.caf_rearranged"
MODAL_CAF_STUCK = "modal.caf_stuck"
MODAL_CAF_CLOSE = "modal.caf_close"
MODAL_CAF_SET_LEAD = "modal.caf_set_lead"

IN_CAF_REFERENCE = ("caf_reference", "caf_reference")
IN_CAF_LEAD = ("caf_lead", "caf_lead")
IN_CAF_COORDINATOR = ("caf_coordinator", "caf_coordinator")
IN_CAF_COMPLETED = ("caf_completed", "caf_completed")
IN_CAF_CONSENT = ("caf_consent", "caf_consent")
IN_CAF_DATE = ("caf_date", "caf_date")
IN_CAF_NOTE = ("caf_note", "caf_note")
IN_CAF_REASON = ("caf_reason", "caf_reason")

# A CAF manager's quality assurance (bot/handlers/slack/caf_qa.py): the QA card's buttons
# carry the request's id; the returned DM's button the returned request's id.
CAF_QA_AGREE = "caf_qa.agree"
CAF_QA_RETURN = "caf_qa.return"  # -> MODAL_CAF_QA_RETURN
CAF_QA_RESUBMIT = "caf_qa.resubmit"  # marked complete again: a new QA card
MODAL_CAF_QA_RETURN = "modal.caf_qa_return"  # private_metadata: the request's id
IN_CAF_QA_REASONS = ("caf_qa_reasons", "caf_qa_reasons")
