"""What may follow what on a CAF episode: the routes the guidance sets, as data. Each
action of ``service.py`` checks the episode's state (``open`` or ``closed``) under its
row lock; the meetings' clocks are ``scheduled.py``'s.

* a stuck CAF goes one step along ``STUCK_ROUTE`` each time it is reported stuck;
* with no lead professional, the ``NO_LEAD_STAGES`` follow one another (``scheduled.py``
  nudges each in turn);
* an episode closes for one of ``CLOSE_REASONS``.
"""

from __future__ import annotations

# Where a stuck CAF goes, in order (Barnet process map 4; DESIGN.md section 3): the
# co-ordinator, then the CAF social worker, then the CAF Support Panel.
STUCK_ROUTE: tuple[str, ...] = ("coordinator", "caf_social_worker", "panel")
STUCK_LABELS: dict[str, str] = {
    "coordinator": "the CAF co-ordinator",
    "caf_social_worker": "the CAF social worker (CAF team duty)",
    "panel": "the CAF Support Panel",
}

# Why a CAF episode closes (Barnet 2M and 2R; MASH-to-CAF guidance). The key is stored.
CLOSE_REASONS: dict[str, str] = {
    "plan_complete": "Plan complete: the family plan's actions are met",
    "consent_withdrawn": "Consent withdrawn",
    "stepped_up": "Stepped up to children's social care",
    "moved_authority": "Family moved to another local authority",
    "no_further_action": "No further action",
    "stepped_down": "No lead professional: stepped down to universal services",
}

# The MASH-to-CAF guidance's route when no lead professional is found.
NO_LEAD_STAGES: tuple[str, ...] = ("link_worker", "panel", "step_down")
