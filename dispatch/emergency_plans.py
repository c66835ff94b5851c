"""Emergency plans (应急预案) as data (issue 18 §1): the pydantic schema of a plan document, its validation
against what the city knows (departments, alert rules, categories, resource kinds), the shipped YAML plans in
``dispatch/plans/*.yaml``, and their versioned storage in ``emergency_plans``.

A plan has a scenario and response levels I–IV (I the highest), listed from the mildest it uses to the
highest; each level has the conditions that start, raise, lower and end it (alert rules and levels, a count of
incidents in an area within a time, or manual), the departments' tasks (lead, assisting, deadline), the
notifications, the resources to stage, the public message, and which automatic moves out of it wait for
the commander (``confirm``). A refusal names the field, as the alert rules'
(``alerts.rules_schema``) do. Every change of a plan is a new version; an event keeps the version it started
under (``dispatch.emergency``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from data.audit import write_audit
from data.catalog import DEPARTMENTS
from data.emergency_models import EmergencyPlan
from data.importers import RESOURCE_KINDS
from data.models import Category, Department, Role, Rule, utcnow

PLANS_FOLDER = Path(__file__).with_name("plans")
#: Response levels from the mildest to the highest (国家防汛抗旱应急预案: IV 一般, III 较大, II 重大, I 特别重大).
LEVELS: tuple[str, ...] = ("IV", "III", "II", "I")
LEVEL_RANK: dict[str, int] = {level: rank for rank, level in enumerate(LEVELS)}
#: The warning colour a response level notifies at (the outbox's ``min_level`` scale).
LEVEL_COLOUR: dict[str, str] = {"IV": "blue", "III": "yellow", "II": "orange", "I": "red"}
PLAN_WRITE_ROLES = (Role.ADMIN,)
PLAN_READ_ROLES = (Role.ADMIN, Role.OPERATOR, Role.LEADER)
ALERT_LEVELS = ("blue", "yellow", "orange", "red")
DUTY_POSTS = ("shift_lead", "duty_officer", "duty_leader")

Level = Literal["IV", "III", "II", "I"]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Strict):
    """A text in both catalog languages."""

    zh: str = Field(min_length=1, max_length=2000)
    en: str = Field(min_length=1, max_length=2000)


class AlertCondition(_Strict):
    """An alert of ``rule`` at ``level`` or above is firing (in the event's area)."""

    type: Literal["alert"]
    rule: str = Field(min_length=1, max_length=64)
    level: Literal["blue", "yellow", "orange", "red"] = "blue"
    #: At least this many alerts of the rule at that level (different sensors).
    count: int = Field(default=1, ge=1, le=1000)


class IncidentsCondition(_Strict):
    """At least ``count`` incidents (of ``category``, if given) within ``radius_m`` of the event, reported in the
    last ``within_hours``."""

    type: Literal["incidents"]
    count: int = Field(ge=1, le=100000)
    within_hours: float = Field(gt=0, le=24 * 30)
    radius_m: float = Field(gt=0, le=100000)
    category: str | None = Field(default=None, max_length=16)


class AlertsClearCondition(_Strict):
    """No alert of ``rule`` at ``level`` or above is firing in the event's area: the water has gone down (a
    ``lower`` or ``end`` condition; the live evaluation wants it to hold for its hold time before acting)."""

    type: Literal["alerts_clear"]
    rule: str = Field(min_length=1, max_length=64)
    level: Literal["blue", "yellow", "orange", "red"] = "blue"


class ManualCondition(_Strict):
    """The commander decides (会商研判)."""

    type: Literal["manual"]
    note: Text | None = None


Condition = Annotated[AlertCondition | IncidentsCondition | AlertsClearCondition | ManualCondition,
                      Field(discriminator="type")]
#: The moves out of a level the live evaluation can make (``LevelSpec.confirm``).
MOVES = ("raise", "lower", "end")


class TaskSpec(_Strict):
    """One department task of a level: a lead department, the assisting ones, a deadline."""

    key: Code
    title: Text
    lead: str = Field(min_length=1, max_length=32)
    assisting: tuple[str, ...] = ()
    deadline_hours: float = Field(gt=0, le=24 * 30)

    @model_validator(mode="after")
    def _lead_not_assisting(self) -> TaskSpec:
        if self.lead in self.assisting:
            raise ValueError(f"assisting: {self.lead} is already the lead")
        if len(set(self.assisting)) != len(self.assisting):
            raise ValueError("assisting: a department is named twice")
        return self


class NotifySpec(_Strict):
    """Who hears of the level: a department or a duty post."""

    department: str | None = Field(default=None, max_length=32)
    duty_post: Literal["shift_lead", "duty_officer", "duty_leader"] | None = None

    @model_validator(mode="after")
    def _one_target(self) -> NotifySpec:
        if (self.department is None) == (self.duty_post is None):
            raise ValueError("give exactly one of department or duty_post")
        return self


class StageSpec(_Strict):
    """Resources to stage: ``count`` of a ``kind`` (rescue_team, equipment, supplies, shelter)."""

    kind: str = Field(min_length=1, max_length=24)
    count: int = Field(ge=1, le=1000)


class Conditions(_Strict):
    start: tuple[Condition, ...] = ()
    raise_: tuple[Condition, ...] = Field(default=(), alias="raise")
    lower: tuple[Condition, ...] = ()
    end: tuple[Condition, ...] = ()


class LevelSpec(_Strict):
    """One response level of a plan."""

    level: Level
    name: Text | None = None
    conditions: Conditions = Conditions()
    tasks: tuple[TaskSpec, ...] = Field(min_length=1)
    notify: tuple[NotifySpec, ...] = ()
    resources: tuple[StageSpec, ...] = ()
    public_message: Text
    #: The moves out of this level that the live evaluation of a real event only suggests (one timeline entry,
    #: for the commander to confirm: 会商研判); the moves not listed it makes itself (``dispatch.emergency_live``).
    confirm: tuple[Literal["raise", "lower", "end"], ...] = ()

    @field_validator("tasks")
    @classmethod
    def _unique_keys(cls, tasks: tuple[TaskSpec, ...]) -> tuple[TaskSpec, ...]:
        keys = [task.key for task in tasks]
        if len(set(keys)) != len(keys):
            raise ValueError("two tasks have the same key")
        return tasks


class PlanSpec(_Strict):
    """A plan document (one YAML file or one ``POST /api/v1/plans`` body)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: Code
    scenario: Code
    name: Text
    #: The national or provincial plan this one follows.
    basis: str = Field(min_length=1, max_length=500)
    #: The incident category of the incidents the tasks become.
    category: str = Field(min_length=1, max_length=16)
    #: The radius (m) of the event's area on the command board and for the incidents conditions.
    radius_m: float = Field(default=2000, gt=0, le=100000)
    levels: tuple[LevelSpec, ...] = Field(min_length=1, max_length=4)

    @field_validator("levels")
    @classmethod
    def _in_order(cls, levels: tuple[LevelSpec, ...]) -> tuple[LevelSpec, ...]:
        ranks = [LEVEL_RANK[level.level] for level in levels]
        for index in range(1, len(ranks)):
            if ranks[index] <= ranks[index - 1]:
                raise ValueError(f"levels out of order at #{index + 1} ({levels[index].level}): list them from "
                                 "the mildest (IV) to the highest (I), each once")
        return levels

    def level(self, code: str) -> LevelSpec | None:
        """The spec of response level ``code``, None when the plan has no such level."""
        return next((level for level in self.levels if level.level == code), None)


class PlanValidationError(ValueError):
    """A plan that does not validate; ``errors`` lists (field, message) pairs, the field a dotted path."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{where}: {message}" if where else message for where, message in errors))

    @property
    def field(self) -> str:
        return self.errors[0][0]


@dataclass(frozen=True)
class PlanCatalog:
    """What a plan may reference: department codes, alert rule ids, category codes, resource kinds."""

    departments: frozenset[str]
    rules: frozenset[str]
    categories: frozenset[str]
    resource_kinds: frozenset[str] = field(default_factory=lambda: frozenset(RESOURCE_KINDS))


def catalog_of(session: Session) -> PlanCatalog:
    """The catalog of the city in ``session``'s database."""
    return PlanCatalog(
        departments=frozenset(session.scalars(select(Department.code))),
        rules=frozenset(session.scalars(select(Rule.id))),
        categories=frozenset(session.scalars(select(Category.code))),
    )


def default_departments() -> frozenset[str]:
    """The department codes of the reference catalog (``data.catalog``)."""
    return frozenset(d.code for d in DEPARTMENTS)


def _path(loc: tuple[int | str, ...]) -> str:
    parts = [str(part) for part in loc if part not in ("alert", "incidents", "alerts_clear", "manual")]
    return ".".join("raise" if part == "raise_" else part for part in parts)


def _references(spec: PlanSpec, known: PlanCatalog) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    if spec.category not in known.categories:
        errors.append(("category", f"unknown category {spec.category!r}"))
    for i, level in enumerate(spec.levels):
        at = f"levels.{i}"
        for j, task in enumerate(level.tasks):
            for where, code in [("lead", task.lead), *((f"assisting.{k}", c) for k, c in enumerate(task.assisting))]:
                if code not in known.departments:
                    errors.append((f"{at}.tasks.{j}.{where}", f"unknown department {code!r}"))
        for j, notify in enumerate(level.notify):
            if notify.department is not None and notify.department not in known.departments:
                errors.append((f"{at}.notify.{j}.department", f"unknown department {notify.department!r}"))
        for j, stage in enumerate(level.resources):
            if stage.kind not in known.resource_kinds:
                errors.append((f"{at}.resources.{j}.kind", f"unknown resource kind {stage.kind!r}; one of "
                                                           f"{', '.join(sorted(known.resource_kinds))}"))
        for phase in ("start", "raise_", "lower", "end"):
            for j, condition in enumerate(getattr(level.conditions, phase)):
                where = f"{at}.conditions.{phase.rstrip('_')}.{j}"
                if isinstance(condition, AlertCondition | AlertsClearCondition) and condition.rule not in known.rules:
                    errors.append((f"{where}.rule", f"unknown alert rule {condition.rule!r}"))
                if isinstance(condition, IncidentsCondition) and condition.category is not None \
                        and condition.category not in known.categories:
                    errors.append((f"{where}.category", f"unknown category {condition.category!r}"))
    return errors


def validate_plan(doc: object, known: PlanCatalog) -> PlanSpec:
    """Validate a plan document; PlanValidationError naming the first offending field."""
    if not isinstance(doc, dict):
        raise PlanValidationError([("", "a plan must be a mapping of fields")])
    try:
        spec = PlanSpec.model_validate(doc)
    except ValidationError as exc:
        raise PlanValidationError([(_path(e["loc"]), e["msg"].removeprefix("Value error, "))
                                   for e in exc.errors()]) from exc
    errors = _references(spec, known)
    if errors:
        raise PlanValidationError(errors)
    return spec


def plan_document(spec: PlanSpec) -> dict[str, Any]:
    """The canonical JSON-ready document of a plan (``raise`` spelled as in the YAML)."""
    return spec.model_dump(mode="json", by_alias=True, exclude_none=True)


# --- files and storage --------------------------------------------------------------------------


def read_plan_files(folder: Path = PLANS_FOLDER) -> list[tuple[Path, object]]:
    """Every ``*.yaml`` document of ``folder`` as parsed, in name order; a file that cannot be read or parsed
    comes as a PlanValidationError in place of its document."""
    documents: list[tuple[Path, object]] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            documents.append((path, yaml.safe_load(path.read_text(encoding="utf-8"))))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            documents.append((path, PlanValidationError([("", f"cannot read the file: {exc}".splitlines()[0])])))
    return documents


def latest(session: Session, plan_id: str) -> EmergencyPlan | None:
    """The newest version of plan ``plan_id``."""
    return session.scalar(select(EmergencyPlan).where(EmergencyPlan.plan_id == plan_id)
                          .order_by(EmergencyPlan.version.desc()).limit(1))


def get_version(session: Session, plan_id: str, version: int) -> EmergencyPlan | None:
    return session.scalar(select(EmergencyPlan).where(EmergencyPlan.plan_id == plan_id,
                                                      EmergencyPlan.version == version))


def spec_of(row: EmergencyPlan) -> PlanSpec:
    """The stored (already validated) document of a plan version as a spec."""
    return PlanSpec.model_validate(row.body)


def _store(session: Session, spec: PlanSpec, *, source: str, actor: Any | None) -> EmergencyPlan:
    body = plan_document(spec)
    current = latest(session, spec.id)
    if current is not None and current.body == body:
        return current
    row = EmergencyPlan(plan_id=spec.id, version=(current.version + 1) if current else 1, scenario=spec.scenario,
                        body=body, source=source, created_at=utcnow(),
                        created_by=getattr(actor, "id", None))
    session.add(row)
    session.flush()
    write_audit(session, getattr(actor, "id", None), "plan.save", f"plan:{spec.id}",
                detail={"version": row.version, "source": source})
    return row


class PlanRefused(ValueError):
    """A refused plan write: HTTP-like ``status``, a machine ``code`` and an English message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def save_plan(session: Session, actor: Any, doc: object) -> EmergencyPlan:
    """Validate and store a plan as its next version (admin); the same document again keeps the version."""
    if actor is not None and actor.role not in PLAN_WRITE_ROLES:
        raise PlanRefused(403, "forbidden", f"a {actor.role} may not edit plans")
    try:
        spec = validate_plan(doc, catalog_of(session))
    except PlanValidationError as exc:
        raise PlanRefused(422, "invalid_plan", str(exc)) from None
    return _store(session, spec, source="api", actor=actor)


def sync_plan_files(session: Session, folder: Path = PLANS_FOLDER) -> tuple[list[str], list[str]]:
    """Store every valid plan file of ``folder`` (a changed file becomes a new version); returns the plan
    ids loaded and the errors met (``file: field: message``)."""
    known = catalog_of(session)
    loaded, errors = [], []
    for path, doc in read_plan_files(folder):
        try:
            if isinstance(doc, PlanValidationError):
                raise doc
            spec = validate_plan(doc, known)
        except PlanValidationError as exc:
            errors.append(f"{path.name}: {exc}")
            continue
        _store(session, spec, source="file", actor=None)
        loaded.append(spec.id)
    return loaded, errors


def list_plans(session: Session) -> list[EmergencyPlan]:
    """The newest version of every plan, by id."""
    newest = (select(EmergencyPlan.plan_id, func.max(EmergencyPlan.version).label("v"))
              .group_by(EmergencyPlan.plan_id).subquery())
    return list(session.scalars(select(EmergencyPlan).join(
        newest, (EmergencyPlan.plan_id == newest.c.plan_id) & (EmergencyPlan.version == newest.c.v))
        .order_by(EmergencyPlan.plan_id)))


def plan_to_dict(row: EmergencyPlan) -> dict[str, Any]:
    return {"id": row.plan_id, "version": row.version, "scenario": row.scenario, "source": row.source,
            "created_at": row.created_at.isoformat(), "document": row.body}
