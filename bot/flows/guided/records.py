"""What a finished flow writes: the consultation log row, or a referral and its card.

Each function takes the caller's open transaction (a ``Session`` or a fast
``Tx``: the new rows are written with ``store.sql`` and returned as detached
model objects) and leaves committing to it, so the flow's state change, the
records and the audit entry land in one transaction (store/repo.py's
convention). Only guarded answers reach here; audit entries carry references
and outcomes, never free text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from bot.flows.guided.checklist import completeness
from bot.flows.guided.models import Suggestion
from bot.flows.guided.scripts import AGENCIES, ROLES
from store import repo, sql
from store.models import Consultation, Referral, TriageCard
from store.tx import Db, as_tx

# A chain of linked consultations longer than this is a data problem, not a situation.
_MAX_CHAIN = 1000


def _label(options: Any, value: Any) -> str:
    return next((o.label for o in options if o.value == value), "")


def reasons_json(s: Suggestion) -> list[dict[str, str]]:
    """Reasons as stored: ``[{rule, text, source}]``."""
    return [{"rule": r.rule, "text": r.text, "source": r.source} for r in s.reasons]


def suggestion_json(s: Suggestion) -> dict[str, Any]:
    """A suggestion as stored in a summary."""
    return {"outcome": s.outcome, "rating": s.rating, "notes": list(s.notes)}


def consultation_by_reference(session: Session, reference: str) -> Consultation | None:
    """The consultation with this reference, if any."""
    return session.exec(  # type: ignore[call-overload, no-any-return]
        select(Consultation).where(Consultation.reference == reference)
    ).scalar_one_or_none()


def repeat_count(session: Session, earlier: Consultation) -> int:
    """This consultation's place in the chain that ``earlier`` belongs to.

    Counts every consultation sharing the chain's root reference, so linking
    the third one to the first (not the second) still counts three; never
    less than the earlier one's own count plus one.
    """
    root = earlier
    seen = {root.reference}
    while root.linked_reference and len(seen) < _MAX_CHAIN:
        parent = consultation_by_reference(session, root.linked_reference)
        if parent is None or parent.reference in seen:
            break
        seen.add(parent.reference)
        root = parent
    chain = {root.reference}
    frontier = [root.reference]
    while frontier and len(chain) < _MAX_CHAIN:
        children = (
            session.exec(  # type: ignore[call-overload]
                select(Consultation.reference).where(
                    Consultation.linked_reference.in_(frontier)  # type: ignore[union-attr]
                )
            )
            .scalars()
            .all()
        )
        frontier = [c for c in children if c not in chain]
        chain.update(frontier)
    return max(earlier.repeat_count + 1, len(chain) + 1)


def write_consultation(
    db: Db,
    *,
    user_id: str,
    platform: str,
    flow_id: int,
    answers: dict[str, Any],
    suggestion: Suggestion,
    count: int,
    now: datetime,
) -> Consultation:
    """Write the CAF consultation log row (and its audit entry)."""
    prof_id = repo.professional_id(
        db,
        user_id,
        platform=platform,
        role=_label(ROLES, answers.get("role")),
        agency=_label(AGENCIES, answers.get("agency")),
    )
    row = Consultation(
        reference=repo.next_reference(db, now),
        platform=platform,
        professional_id=prof_id,
        flow_id=flow_id,
        age_band=str(answers.get("age_band", "")),
        categories=list(answers.get("categories") or []),
        summary={"answers": answers, "suggestion": suggestion_json(suggestion)},
        suggested_outcome=suggestion.outcome,
        suggested_reasons=reasons_json(suggestion),
        linked_reference=answers.get("earlier_ref") or None,
        repeat_count=count,
        created_at=now,
        last_contact_at=now,
    )
    sql.insert(as_tx(db).cx, row)
    repo.audit(
        db,
        actor=user_id,
        action="consultation.created",
        subject_type="consultation",
        subject_id=row.id,
        new={
            "reference": row.reference,
            "outcome": suggestion.outcome,
            "rating": suggestion.rating,
            "repeat_count": count,
        },
        at=now,
    )
    return row


def write_referral(
    db: Db,
    *,
    user_id: str,
    platform: str,
    flow_id: int,
    answers: dict[str, Any],
    suggestion: Suggestion,
    now: datetime,
) -> tuple[Referral, TriageCard]:
    """Write the referral summary and its triage card (and the audit entry)."""
    prof_id = repo.professional_id(
        db,
        user_id,
        platform=platform,
        role=_label(ROLES, answers.get("role")),
        agency=_label(AGENCIES, answers.get("agency")),
    )
    percent, gaps = completeness(answers)
    phoned = answers.get("phoned") == "yes" and bool(answers.get("phoned_at"))
    referral = Referral(
        reference=repo.next_reference(db, now),
        kind="checklist",
        professional_id=prof_id,
        flow_id=flow_id,
        age_band=str(answers.get("age_band", "")),
        categories=list(answers.get("categories") or []),
        summary={"answers": answers, "suggestion": suggestion_json(suggestion)},
        consent_status=str(answers.get("consent", "")),
        consent_reason=answers.get("consent_reason") or None,
        completeness=percent,
        gaps=gaps,
        phone_referral=phoned,
        phoned_at=datetime.fromisoformat(answers["phoned_at"]) if phoned else None,
        created_at=now,
        last_contact_at=now,
    )
    sql.insert(as_tx(db).cx, referral)
    card = _card(db, referral, user_id, platform, suggestion, now)
    repo.audit(
        db,
        actor=user_id,
        action="referral.created",
        subject_type="referral",
        subject_id=referral.id,
        new={
            "reference": referral.reference,
            "outcome": suggestion.outcome,
            "suggested_rating": suggestion.rating,
            "completeness": percent,
            "phone_referral": phoned,
        },
        at=now,
    )
    return referral, card


def write_urgent(
    db: Db,
    *,
    user_id: str,
    platform: str,
    flow_id: int,
    flow_kind: str,
    suggestion: Suggestion,
    now: datetime,
) -> tuple[Referral, TriageCard]:
    """The safety gate's Red item: an urgent referral and its card, nothing else known."""
    prof_id = repo.professional_id(db, user_id, platform=platform)
    referral = Referral(
        reference=repo.next_reference(db, now),
        kind="urgent",
        professional_id=prof_id,
        flow_id=flow_id,
        summary={"safety_gate": True, "flow": flow_kind, "suggestion": suggestion_json(suggestion)},
        created_at=now,
        last_contact_at=now,
    )
    sql.insert(as_tx(db).cx, referral)
    card = _card(db, referral, user_id, platform, suggestion, now)
    repo.audit(
        db,
        actor=user_id,
        action="referral.urgent",
        subject_type="referral",
        subject_id=referral.id,
        new={"reference": referral.reference, "suggested_rating": "red", "flow": flow_kind},
        reason="safety gate: a child in immediate danger",
        at=now,
    )
    return referral, card


def _card(
    db: Db, referral: Referral, user_id: str, platform: str, suggestion: Suggestion,
    now: datetime,
) -> TriageCard:
    card = TriageCard(
        platform=platform,
        referral_id=referral.id,  # type: ignore[arg-type]
        reference=referral.reference,
        referrer_user_id=user_id,
        suggested_rating=suggestion.rating or "amber_sh",  # never None for a referral
        suggested_reasons=reasons_json(suggestion),
        status="new",
        received_at=now,
    )
    sql.insert(as_tx(db).cx, card)
    return card
