"""Rules shipped as files: load ``alerts/rules/*.yaml`` into the ``rules`` table (source ``file``) at start.

A file holds one rule document, a list of them, or a mapping with a ``rules:`` list. Each rule is
validated on its own: a bad file or rule is reported (logged, and returned by ``load_rule_folder``)
without stopping the good ones. Rules created or edited through the API are never overwritten.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlalchemy.orm import Session

from alerts.rules_schema import RuleSpec, RuleValidationError, rule_document, validate_rule
from data.models import Rule, utcnow

log = logging.getLogger(__name__)

RULES_FOLDER = Path(__file__).with_name("rules")
SOURCE_FILE = "file"


@dataclass(frozen=True)
class RuleFileError:
    """A problem with one rule file, or with one rule in it (``index`` counts from 0)."""

    path: Path
    message: str
    index: int | None = None

    def __str__(self) -> str:
        where = self.path.name if self.index is None else f"{self.path.name} rule #{self.index + 1}"
        return f"{where}: {self.message}"


def _documents(path: Path) -> list[object]:
    parsed = yaml.safe_load(path.read_text(encoding="utf-8"))
    if parsed is None:
        return []
    if isinstance(parsed, dict) and set(parsed) == {"rules"}:
        parsed = parsed["rules"]
    return parsed if isinstance(parsed, list) else [parsed]


def load_rule_folder(folder: Path = RULES_FOLDER) -> tuple[list[RuleSpec], list[RuleFileError]]:
    """Every valid rule of ``folder/*.yaml`` (and ``*.yml``) and the errors met, files in name order."""
    rules: list[RuleSpec] = []
    errors: list[RuleFileError] = []
    seen: dict[str, Path] = {}
    paths = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    for path in paths:
        try:
            documents = _documents(path)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            errors.append(RuleFileError(path, f"cannot read the file: {exc}".splitlines()[0]))
            continue
        for index, document in enumerate(documents):
            try:
                spec = validate_rule(document)
            except RuleValidationError as exc:
                errors.append(RuleFileError(path, str(exc), index))
                continue
            if spec.id in seen:
                errors.append(
                    RuleFileError(path, f"id {spec.id!r} is already defined in {seen[spec.id].name}", index)
                )
                continue
            seen[spec.id] = path
            rules.append(spec)
    return rules, errors


def sync_rule_files(session: Session, folder: Path = RULES_FOLDER) -> list[str]:
    """Insert or update the file rules of ``folder``; returns the ids loaded.

    An existing rule of source ``file`` gets the file's body (its ``enabled`` flag is kept: an
    administrator may have switched it off); a rule of another source with the same id is left alone.
    Bad files and rules are logged as errors; the good ones are still loaded.
    """
    rules, errors = load_rule_folder(folder)
    for error in errors:
        log.error("rule file %s", error)
    loaded: list[str] = []
    now = utcnow()
    for spec in rules:
        body = rule_document(spec)
        row = session.get(Rule, spec.id)
        if row is None:
            session.add(Rule(id=spec.id, body=body, enabled=True, source=SOURCE_FILE, updated_at=now))
        elif row.source != SOURCE_FILE:
            log.warning("rule %s from %s is kept: it was defined through the %s", spec.id, folder, row.source)
            continue
        elif row.body != body:
            row.body, row.updated_at = body, now
        loaded.append(spec.id)
    session.flush()
    return loaded
