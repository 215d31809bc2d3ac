"""CAF episodes: registration, import, Team Around the Child meetings and nudges.

* ``models.py``     what registering needs (``NewEpisode``), what an action returns
* ``service.py``    the actions (``CafService``), each atomic and audited
* ``flows.py``      what may follow what: the stuck route, the no-lead stages, close reasons
* ``messaging.py``  what the actions and nudges queue (``CafMessaging``)
* ``scheduled.py``  the reminder kinds: overdue meeting, reassessment, no lead professional
* ``qa.py``         a CAF manager's quality assurance of an assessment (with its own kind)
* ``importer.py``   ``frontdoor caf import``; ``lookup.py`` ``/caf EHM-…`` and the lists
"""
