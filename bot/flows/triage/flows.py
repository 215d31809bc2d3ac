"""What may follow what on a triage card: the rules live in each action of ``service.py``.

A card is ``new`` until a manager decides it (``approve`` or ``change``; a second
decision on a ``new`` card finds it decided and is told by whom), ``decided`` after
(``change`` re-rates it), ``closed`` last: nothing but ``written_received`` acts on a
closed card. Each action checks the state under the card's row lock
(``bot.flows.locked.locked_action``), so there is no separate state machine to keep in
step with the actions.
"""
