"""Consultation: a no-names consultation with the duty advisors, from the advisor's
answer to the professional's response, and the CAF consultation log that records them.

* ``models.py``     what an advice action returns (``AdviceResult``), the outcomes
* ``service.py``    the actions (``AdviceService``): advise, respond, change an answer
* ``flows.py``      what may follow what (the consultation's states)
* ``messaging.py``  what the actions queue (``ConsultationMessaging``): the card, the advice DM
* ``scheduled.py``  nothing is scheduled (says where retention and figures live)
* ``log.py``        the consultation log: queries, filters, the CSV export (``LogService``)

The questions that open a consultation are the guided ``/consult`` flow's
(``bot.flows.guided``).
"""
