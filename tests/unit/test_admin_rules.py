# ruff: noqa: F811  (pytest fixtures imported from test_pages are parameters here)
"""The alert-rules section of /admin: list, load, save (refusals name the field), switch, delete."""

from __future__ import annotations

import pytest
from dash._callback_context import context_value
from dash._utils import AttributeDict
from sqlalchemy import select

from api.auth import page_of_component
from callbacks import admin_rules
from data.models import AuditLog, Rule
from layouts import ids
from layouts.admin_rules import TEMPLATE
from tests.unit.test_pages import callback_context, city, server, signed_in, texts, with_testid  # noqa: F401

FILE_RULE = {"id": "gas-pressure-high", "name": {"zh": "燃气管网压力超限", "en": "Gas main over-pressure"},
             "applies_to": {"kinds": ["gas_pressure"]},
             "condition": {"type": "threshold", "op": ">", "levels": {"red": 0.45}}}


def press(button: str) -> None:
    context_value.set(AttributeDict(triggered_inputs=[{"prop_id": f"{button}.n_clicks", "value": 1}]))


def save(text, picked=None, enabled=("on",)):
    press(ids.ADMIN_RULES_SAVE)
    return admin_rules.change_rule(1, None, picked, text, list(enabled), 0)


def rule(db, rule_id):
    with db.uow() as s:
        return s.get(Rule, rule_id)


def test_every_output_belongs_to_the_admin_page():
    outputs = [ids.ADMIN_RULES_LIST, ids.ADMIN_RULES_PICK, ids.ADMIN_RULES_TEXT, ids.ADMIN_RULES_ENABLED,
               ids.ADMIN_RULES_MESSAGE, ids.ADMIN_RULES_CHANGED]
    assert {page_of_component(c) for c in outputs} == {"admin"}


def test_a_rule_typed_as_yaml_is_created_listed_and_audited(server, db, city):
    with signed_in(server, city.admin, lang="en"):
        message, changed = save(TEMPLATE)
        assert texts(message) == ["Rule my-rule created"] and changed == 1
        listing, options = admin_rules.list_rules(1, None)
    assert rule(db, "my-rule").source == "api" and rule(db, "my-rule").enabled
    assert {"label": "my-rule (api)", "value": "my-rule"} in options
    assert [r for r in with_testid(listing, "admin-rules-row") if "my-rule" in texts(r)]
    with db.uow() as s:
        assert s.scalar(select(AuditLog.action).where(AuditLog.target == "rule:my-rule")) == "rule.create"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (TEMPLATE.replace("yellow: 0.40", "yellow: lots"), "condition.levels.yellow"),
        (TEMPLATE.replace("for: 2m", "for: soon"), "for"),
        ('{"id": "x", "name": {"zh": "a"}}', "name.en"),
        ("id: [unclosed", "YAML"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_field_and_nothing_changes(server, db, city, text, field):
    with signed_in(server, city.admin, lang="en"):
        message, changed = save(text)
    assert "422" in texts(message)[0] and field in texts(message)[0] and changed == 0
    with db.uow() as s:
        assert s.scalars(select(Rule)).all() == []


def test_a_file_rule_can_be_switched_off_but_its_body_is_edited_in_its_file(server, db, city):
    from alerts.rules_schema import rule_document, validate_rule

    with db.uow() as s:
        s.add(Rule(id="gas-pressure-high", body=rule_document(validate_rule(FILE_RULE)), enabled=True, source="file"))
    with signed_in(server, city.admin, lang="en"):
        text, enabled = admin_rules.load_rule("gas-pressure-high")
        assert enabled == ["on"] and "gas-pressure-high" in text
        message, _ = save(text, picked="gas-pressure-high", enabled=())
        assert texts(message) == ["Rule gas-pressure-high saved"]
        assert rule(db, "gas-pressure-high").enabled is False
        message, _ = save(text.replace("0.45", "0.5"), picked="gas-pressure-high")
        assert "409" in texts(message)[0]
        press(ids.ADMIN_RULES_DELETE)
        message, _ = admin_rules.change_rule(None, 1, "gas-pressure-high", text, [], 0)
        assert "409" in texts(message)[0]
    assert rule(db, "gas-pressure-high").body["condition"]["levels"] == {"red": 0.45}


def test_an_api_rule_is_deleted(server, db, city):
    with signed_in(server, city.admin, lang="en"):
        save(TEMPLATE)
        press(ids.ADMIN_RULES_DELETE)
        message, changed = admin_rules.change_rule(None, 1, "my-rule", "", [], 1)
    assert texts(message) == ["Rule my-rule deleted"] and changed == 2
    assert rule(db, "my-rule") is None
