"""Triage: the card a manager decides for every referral.

Arrival (a guided ``/refer`` flow writes the card), decision, change of rating,
assignment, a request for more information and the referrer's reply, snoozing, the
written confirmation of a phone referral, closure; the SLA clocks that run on a card.

* ``models.py``     what an action returns (``CardResult``), the close reasons
* ``service.py``    the actions (``TriageService``), each atomic and audited
* ``flows.py``      what may follow what (the card's states)
* ``messaging.py``  what the actions queue (``TriageMessaging``): the card, its notes, DMs
* ``scheduled.py``  the SLA clocks and their reminder kinds (``sla_warning``, ``sla_breach``)
"""
