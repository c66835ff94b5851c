"""Create, replace, switch and delete stored alert rules: the one place the API and the admin page share.

A rule of source ``file`` belongs to its YAML file: its body is changed only there (the loader keeps
it in step), but an administrator may switch it on or off. Rules of source ``api`` are edited freely.
Refusals are ``RuleStoreError`` with an HTTP-like status, an error code and the offending field.
"""

from __future__ import annotations

from typing import Any

import yaml
from sqlalchemy.orm import Session

from alerts.rules_schema import RuleValidationError, rule_document, validate_rule
from data.models import Rule, utcnow

SOURCE_API = "api"


class RuleStoreError(ValueError):
    """A refused rule change: ``status`` (404, 409, 422), ``code`` and a message naming the field."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def parse_rule_text(text: str) -> object:
    """A rule document typed as YAML or JSON (JSON is YAML); RuleStoreError 422 when it cannot be read."""
    try:
        return yaml.safe_load(text or "")
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise RuleStoreError(422, "invalid_rule", f"the text is not YAML or JSON{line}") from None


def checked_document(document: object, rule_id: str | None = None) -> dict[str, Any]:
    """The canonical document of a valid rule; 422 naming the bad field otherwise."""
    if rule_id is not None and isinstance(document, dict):
        document = {"id": rule_id, **document}
        if document["id"] != rule_id:
            raise RuleStoreError(422, "invalid_field", "rule.id: does not match the path")
    try:
        return rule_document(validate_rule(document))
    except RuleValidationError as exc:
        raise RuleStoreError(422, "invalid_rule", str(exc)) from None


def create_rule(session: Session, document: object, *, enabled: bool = True) -> Rule:
    """Store a new API rule; 409 when the id is taken."""
    body = checked_document(document)
    if session.get(Rule, body["id"]) is not None:
        raise RuleStoreError(409, "rule_exists", f"rule {body['id']!r} exists already")
    rule = Rule(id=body["id"], body=body, enabled=enabled, source=SOURCE_API, updated_at=utcnow())
    session.add(rule)
    session.flush()
    return rule


def stored_rule(session: Session, rule_id: str) -> Rule:
    """The stored rule ``rule_id``; 404 when there is none."""
    rule = session.get(Rule, rule_id)
    if rule is None:
        raise RuleStoreError(404, "rule_not_found", f"no rule {rule_id!r}")
    return rule


def _editable(session: Session, rule_id: str) -> Rule:
    rule = stored_rule(session, rule_id)
    if rule.source != SOURCE_API:
        raise RuleStoreError(409, "rule_from_file", f"rule {rule_id!r} comes from a {rule.source}; edit it there")
    return rule


def replace_rule(session: Session, rule_id: str, document: object, *, enabled: bool = True) -> Rule:
    """Replace an API rule's document. A file rule given its unchanged document only changes ``enabled``."""
    body = checked_document(document, rule_id)
    rule = stored_rule(session, rule_id)
    if rule.source != SOURCE_API and rule.body == body:
        return set_enabled(session, rule_id, enabled)
    rule = _editable(session, rule_id)
    rule.body, rule.enabled, rule.updated_at = body, enabled, utcnow()
    return rule


def set_enabled(session: Session, rule_id: str, enabled: bool) -> Rule:
    """Switch any rule on or off (file rules keep the flag across reloads)."""
    rule = stored_rule(session, rule_id)
    if rule.enabled != enabled:
        rule.enabled, rule.updated_at = enabled, utcnow()
    return rule


def delete_rule(session: Session, rule_id: str) -> None:
    """Delete an API rule; its open alerts are resolved by the next evaluation."""
    session.delete(_editable(session, rule_id))
