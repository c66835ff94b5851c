"""Changing the stored alert rules: the one door the API and the admin rules page both use — it calls
``alerts.rules_store`` (which checks the document) and writes the audit row (``rule.create``,
``rule.update``, ``rule.delete``) of the actor, who must hold ``Permission.RULE_WRITE``."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session

from alerts import rules_store
from data.audit import write_audit
from data.models import Rule
from domain.permissions import Permission, require


class Actor(Protocol):
    """Who changes the rules: a ``data.models.User`` or the web layer's signed-in user."""

    id: int
    role: str


def _audit(session: Session, actor: Actor, action: str, rule_id: str) -> None:
    write_audit(session, actor.id, action, f"rule:{rule_id}")


def add_rule(session: Session, actor: Actor, document: object, *, enabled: bool = True) -> Rule:
    """Store a new API rule (``RuleStoreError`` 409 when its id is taken, 422 when it is not valid)."""
    require(actor.role, Permission.RULE_WRITE)
    rule = rules_store.create_rule(session, document, enabled=enabled)
    _audit(session, actor, "rule.create", rule.id)
    return rule


def change_rule(session: Session, actor: Actor, rule_id: str, document: object, *,
                enabled: bool = True) -> Rule:
    """Replace rule ``rule_id`` (a file rule: switch it on or off)."""
    require(actor.role, Permission.RULE_WRITE)
    rule = rules_store.replace_rule(session, rule_id, document, enabled=enabled)
    _audit(session, actor, "rule.update", rule_id)
    return rule


def save_rule(session: Session, actor: Actor, document: object, *, enabled: bool = True) -> tuple[str, Rule]:
    """Create the rule, or replace it when one with its id is stored; returns the audit action and the rule."""
    rule_id = document.get("id") if isinstance(document, dict) else None
    if rule_id and session.get(Rule, rule_id) is not None:
        return "rule.update", change_rule(session, actor, rule_id, document, enabled=enabled)
    return "rule.create", add_rule(session, actor, document, enabled=enabled)


def remove_rule(session: Session, actor: Actor, rule_id: str) -> None:
    """Delete an API rule (``RuleStoreError`` 404/409 for a missing or a file rule)."""
    require(actor.role, Permission.RULE_WRITE)
    rules_store.delete_rule(session, rule_id)
    _audit(session, actor, "rule.delete", rule_id)
