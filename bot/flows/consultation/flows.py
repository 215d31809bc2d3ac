"""What may follow what on a consultation: the rules live in each action of ``service.py``.

An advisor may advise an ``open`` consultation once (a second advisor is told who
answered); only the professional who asked may then say whether they follow the
advice, and why not; "Change my answer" (``reopen_in``) shows the two answers again,
the answer given standing until another is chosen. Each action checks the state under
the consultation's row lock (``bot.flows.locked.locked_action``). The questions asked
before a consultation exists are the guided ``/consult`` flow's (``bot.flows.guided``).
"""
