"""Linkage rules (联动规则, issue 17 §2) as data: which departments lead and assist on an incident, applied when
the incident is filed.

Rules live in ``dispatch/linkage_rules/*.yaml`` (a list of rules, or a mapping with a ``rules:`` list), checked
by the pydantic schema below: a ``match`` (alert rule ids, sensor families, alert levels, incident categories,
sources; every criterion given must hold, a list means "any of these"), the ``lead`` department, the
``assisting`` ones and whether the grid worker is told (``notify_grid_worker``, with an ``instruction`` such
as "evacuate"). Example: a red gas alert → the gas company leads, the fire brigade and the traffic police
assist, the grid worker evacuates. The first rule that matches (files in name order, rules in file order)
applies; an incident that has department tasks already is left alone.

An assisting department equal to the lead, or named twice, is refused when the file is read; a department
code the database does not know is refused when the rule is checked (``check_departments``) or applied (the
rule is then skipped with a logged reason and nothing is written).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from data.models import Alert, Department, Incident, Sensor
from dispatch import joint, outbox
from domain.states import ALERT_LEVELS, SOURCES
from i18n import t
from settings import get_settings

log = logging.getLogger(__name__)

RULES_FOLDER = Path(__file__).with_name("linkage_rules")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Strict):
    """A text in both catalog languages."""

    zh: str = Field(min_length=1, max_length=255)
    en: str = Field(min_length=1, max_length=255)


class LinkageMatch(_Strict):
    """When a rule applies; every criterion given must hold (a list: any of its values)."""

    rule_ids: tuple[str, ...] = ()
    families: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    @field_validator("levels")
    @classmethod
    def _known_levels(cls, levels: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [level for level in levels if level not in ALERT_LEVELS]
        if unknown:
            raise ValueError(f"unknown alert level(s) {', '.join(unknown)}; one of {', '.join(ALERT_LEVELS)}")
        return levels

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, sources: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [source for source in sources if source not in SOURCES]
        if unknown:
            raise ValueError(f"unknown source(s) {', '.join(unknown)}; one of {', '.join(SOURCES)}")
        return sources

    @model_validator(mode="after")
    def _not_empty(self) -> LinkageMatch:
        if not (self.rule_ids or self.families or self.levels or self.categories or self.sources):
            raise ValueError("give at least one of rule_ids, families, levels, categories or sources")
        return self

    @property
    def needs_alert(self) -> bool:
        """True when the rule looks at the alert that filed the incident."""
        return bool(self.rule_ids or self.families or self.levels)


class LinkageRule(_Strict):
    """One linkage rule: match → lead, assisting departments, and the grid worker's instruction."""

    id: str
    name: Text
    match: LinkageMatch
    lead: str = Field(min_length=1, max_length=32)
    assisting: tuple[str, ...] = ()
    notify_grid_worker: bool = False
    instruction: Text | None = None

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("an id is 1-64 lower-case letters, digits, '-' or '_'")
        return value

    @model_validator(mode="after")
    def _departments(self) -> LinkageRule:
        if self.lead in self.assisting:
            raise ValueError(f"assisting department {self.lead!r} is the lead")
        if len(set(self.assisting)) != len(self.assisting):
            raise ValueError("an assisting department is named twice")
        return self


@dataclass(frozen=True)
class Context:
    """What a rule is matched against: the incident's category and source, and its alert's rule, sensor
    family and (peak) level when an alert filed it."""

    category: str
    source: str
    rule_id: str | None = None
    family: str | None = None
    level: str | None = None


def matches(rule: LinkageRule, context: Context) -> bool:
    """Whether ``rule`` applies in ``context`` (every criterion given holds)."""
    m = rule.match
    if m.needs_alert and context.rule_id is None:
        return False
    return all(not wanted or value in wanted for wanted, value in (
        (m.rule_ids, context.rule_id), (m.families, context.family), (m.levels, context.level),
        (m.categories, context.category), (m.sources, context.source)))


# --- reading the files -------------------------------------------------------------------------------


class LinkageFileError(ValueError):
    """A rule file, or a rule in it, that is refused; the message names the file and the rule."""


def parse_rules(documents: Sequence[Any], where: str) -> list[LinkageRule]:
    """Validate rule documents; LinkageFileError with the reason (file, rule number, field) on the first bad one."""
    rules = []
    for index, document in enumerate(documents):
        try:
            rules.append(LinkageRule.model_validate(document))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "rule"
            raise LinkageFileError(f"{where} rule #{index + 1}: {field}: {first['msg']}") from None
    return rules


def _documents(path: Path) -> list[Any]:
    parsed = yaml.safe_load(path.read_text(encoding="utf-8"))
    if parsed is None:
        return []
    if isinstance(parsed, dict) and set(parsed) == {"rules"}:
        parsed = parsed["rules"]
    return parsed if isinstance(parsed, list) else [parsed]


def load_rules(folder: Path = RULES_FOLDER) -> list[LinkageRule]:
    """Every rule of ``folder/*.yaml`` in order; LinkageFileError for an unreadable or invalid file, or an id
    used twice."""
    rules: list[LinkageRule] = []
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            documents = _documents(path)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise LinkageFileError(f"{path.name}: cannot read the file: {exc}".splitlines()[0]) from None
        rules.extend(parse_rules(documents, path.name))
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise LinkageFileError(f"linkage rule id {rule.id!r} is used twice")
        seen.add(rule.id)
    return rules


@cache
def shipped_rules() -> tuple[LinkageRule, ...]:
    """The rules shipped in ``dispatch/linkage_rules``, read once per process (none, logged, when refused)."""
    try:
        return tuple(load_rules())
    except LinkageFileError as exc:
        log.error("linkage rules refused, none apply: %s", exc)
        return ()


def check_departments(session: Session, rules: Sequence[LinkageRule]) -> list[str]:
    """The problems of ``rules`` against this city's departments (an unknown lead or assisting code)."""
    known = set(session.scalars(select(Department.code)))
    problems = []
    for rule in rules:
        unknown = [code for code in (rule.lead, *rule.assisting) if code not in known]
        if unknown:
            problems.append(f"linkage rule {rule.id!r}: unknown department(s) {', '.join(unknown)}")
    return problems


# --- applying ------------------------------------------------------------------------------------


def context_of(session: Session, incident: Incident, alert: Alert | None = None) -> Context:
    """The matching context of ``incident``: its alert is ``alert`` or the one linked to it."""
    if alert is None:
        alert = session.scalar(select(Alert).where(Alert.incident_id == incident.id).order_by(Alert.id).limit(1))
    if alert is None:
        return Context(incident.category_code, incident.source)
    sensor = session.get(Sensor, alert.sensor_id)
    return Context(incident.category_code, incident.source, alert.rule_id,
                   sensor.family if sensor is not None else None, alert.peak_level or alert.level)


def apply(
    session: Session, incident: Incident, *, now: datetime, alert: Alert | None = None,
    rules: Sequence[LinkageRule] | None = None,
) -> LinkageRule | None:
    """Apply the first matching rule to a just-filed ``incident``: the lead and assisting departments get their
    tasks (``joint.apply_plan``), a ``linkage`` history row and audit row name the rule, and the grid worker
    (the incident's assignee) is told the instruction through their channels. Returns the rule applied, or
    None (no rule matched, the incident has tasks already, or the rule names an unknown department: logged,
    nothing written)."""
    rules = shipped_rules() if rules is None else rules
    if not rules or joint.has_tasks(session, incident.id):
        return None
    context = context_of(session, incident, alert)
    rule = next((r for r in rules if matches(r, context)), None)
    if rule is None:
        return None
    try:
        chosen = joint.plan(session, rule.lead, list(rule.assisting))
    except joint.JointError as refusal:
        log.warning("linkage rule %r not applied to %s: %s", rule.id, incident.code, refusal.message)
        return None
    tasks = joint.apply_plan(session, incident, chosen, now=now)
    data: dict[str, Any] = {"rule": rule.id, **joint.summary(tasks)}
    if rule.notify_grid_worker and incident.assignee_id is not None:
        data["grid_worker_messages"] = _notify_grid_worker(session, incident, rule)
    joint.record(session, incident, actor=None, action="linkage", now=now, note=None, data=data)
    return rule


def _notify_grid_worker(session: Session, incident: Incident, rule: LinkageRule) -> int:
    """Queue the rule's instruction to the incident's grid worker (their own channels); the count queued."""
    lang = get_settings().lang
    instruction = getattr(rule.instruction, lang) if rule.instruction is not None else getattr(rule.name, lang)
    event = outbox.Event(
        key=f"incident:{incident.id}:linkage:{rule.id}", kind="linkage", incident_id=incident.id,
        assignee_id=incident.assignee_id,
        title=t("joint.linkage.notify_title", lang, code=incident.code, title=incident.title),
        body=t("joint.linkage.notify_body", lang, code=incident.code, title=incident.title, instruction=instruction),
    )
    return outbox.enqueue(session, event)
