"""The domain, grouped by domain; no chat platform in any of it.

Each domain is a package with the same five files, so a behaviour is one hop away:
``models.py`` (its value types and states; the tables are ``store/models.py``'s),
``service.py`` (its actions, each one transaction), ``flows.py`` (what may follow what),
``messaging.py`` (the intents its actions queue) and ``scheduled.py`` (its clocks and
reminder kinds). A file with nothing of its kind says where that concern lives.

* ``triage/``        the card a manager decides: decision, rating, assignment, closure, SLA
* ``consultation/``  a no-names consultation: the advice, the answer, the consultation log
* ``caf/``           CAF episodes: registration, meetings, stuck and no-lead routes, QA
* ``guided/``        the ``/consult`` and ``/refer`` question flows that start the others

Shared by the domains, and staying here: ``drive.py`` (one flow action in the request's
transaction), ``locked.py`` (the row-locked action every card, advice and CAF action
is), ``overview.py`` (what a person's Home shows, across the domains).
"""
