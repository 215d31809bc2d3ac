"""The guided flows: ``/consult`` (a no-names consultation) and ``/refer`` (a referral),
asked one question at a time and resumed exactly after a restart.

* ``models.py``     the contract with whoever drives a flow: ``Step``, ``Prompt``, ``Status``
* ``service.py``    the actions (``FlowService``): start, answer, back, cancel, expire
* ``flows.py``      the state machine over a script (``FlowEngine``, with ``transitions``)
* ``messaging.py``  what a step queues (``GuidedMessaging``): the question, the outcome
* ``scheduled.py``  the expiry of idle flows, run by the reminder sweep
* ``script.py``     the types a question script is written in; ``scripts.py`` the two scripts
* ``rules.py``      the suggestion rules; ``checklist.py`` how complete a referral is
* ``validate.py``   checking an answer; ``records.py`` what a finished flow writes
"""
