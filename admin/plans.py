"""Emergency plans (应急预案) in /admin (issue 18 §1): every plan with its versions, a version as YAML, and an edited
YAML document checked or saved. Checking and saving are those of ``POST /api/v1/plans``
(``dispatch.emergency_plans.validate_plan`` and ``save_plan``): a refusal names the field and writes nothing; a
save stores the next version with its audit row (the same document again keeps the version), and an event keeps
the version it started under."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from admin.audit import Actor, check
from data.emergency_models import EmergencyPlan
from data.models import User
from dispatch import emergency_plans
from domain.errors import DomainError, Forbidden, Invalid, NotFound
from domain.permissions import Permission

#: The longest YAML document the editor takes (the shipped plans are a few kilobytes).
PLAN_TEXT_MAX = 200_000


@dataclass(frozen=True)
class PlanVersion:
    """One stored version of a plan: who saved it, when, from where (``file`` or ``api``)."""

    version: int
    source: str
    created_at: datetime
    created_by: str | None


@dataclass(frozen=True)
class PlanVersions:
    """A plan (its newest name and scenario) with its versions, the newest first."""

    plan_id: str
    name: dict[str, str]
    scenario: str
    versions: list[PlanVersion]


@dataclass(frozen=True)
class SavedPlan:
    """What a save did: the version now newest, and whether it is new (False: the same document again)."""

    plan_id: str
    version: int
    created: bool


def plan_versions(session: Session, actor: Actor | None) -> list[PlanVersions]:
    """Every plan with its versions (the plan editor's list), by plan id."""
    check(actor, Permission.PLAN_WRITE)
    rows = session.execute(select(EmergencyPlan, User.username).outerjoin(User, User.id == EmergencyPlan.created_by)
                           .order_by(EmergencyPlan.plan_id, EmergencyPlan.version.desc())).all()
    plans: dict[str, PlanVersions] = {}
    for row, username in rows:
        if row.plan_id not in plans:  # the newest version comes first: its name and scenario stand for the plan
            plans[row.plan_id] = PlanVersions(row.plan_id, dict(row.body.get("name") or {}), row.scenario, [])
        plans[row.plan_id].versions.append(PlanVersion(row.version, row.source, row.created_at, username))
    return list(plans.values())


def plan_text(session: Session, actor: Actor | None, plan_id: str, version: int | None = None) -> str:
    """Version ``version`` of plan ``plan_id`` (the newest when None) as a YAML document."""
    check(actor, Permission.PLAN_WRITE)
    row = (emergency_plans.latest(session, plan_id) if version is None
           else emergency_plans.get_version(session, plan_id, version))
    if row is None:
        raise NotFound("unknown_plan", "command_board2.unknown_plan", message=f"no plan {plan_id!r} v{version}",
                       plan=plan_id)
    return yaml.safe_dump(row.body, allow_unicode=True, sort_keys=False, width=120)


def _document(text: str | None) -> Any:
    """The parsed YAML of the editor; ``Invalid`` (naming no field) when it is empty, too long or not YAML."""
    if not text or not text.strip():
        raise Invalid("invalid_plan", "command_board2.plan_empty", message="the plan is empty", field="", reason="")
    if len(text) > PLAN_TEXT_MAX:
        raise Invalid("invalid_plan", "command_board2.plan_too_long", message="the plan is too long", field="",
                      reason=f"> {PLAN_TEXT_MAX}")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        reason = str(exc).replace("\n", " ")
        raise Invalid("invalid_plan", "command_board2.plan_yaml", message=f"not YAML: {reason}", field="",
                      reason=reason) from None


def check_plan(session: Session, actor: Actor | None, text: str | None) -> emergency_plans.PlanSpec:
    """Validate the editor's YAML as ``POST /api/v1/plans`` does; ``Invalid`` naming the first offending field
    (``field``) with every error in ``reason``."""
    check(actor, Permission.PLAN_WRITE)
    doc = _document(text)
    try:
        return emergency_plans.validate_plan(doc, emergency_plans.catalog_of(session))
    except emergency_plans.PlanValidationError as exc:
        raise Invalid("invalid_plan", "command_board2.plan_invalid", message=str(exc), field=exc.field or "—",
                      reason=str(exc)) from None


def _refusal(exc: emergency_plans.PlanRefused) -> DomainError:
    kind = Forbidden if exc.status == 403 else Invalid
    return kind(exc.code, message=exc.message)


def save_plan_text(session: Session, actor: Actor | None, text: str | None) -> SavedPlan:
    """Check the editor's YAML and store it as the plan's next version (through ``emergency_plans.save_plan``,
    which writes the audit row); nothing is written when it is refused."""
    spec = check_plan(session, actor, text)
    before = emergency_plans.latest(session, spec.id)
    try:
        row = emergency_plans.save_plan(session, actor, _document(text))
    except emergency_plans.PlanRefused as exc:
        raise _refusal(exc) from None
    return SavedPlan(row.plan_id, row.version, before is None or row.version != before.version)
