# ruff: noqa: F811  (pytest fixtures imported from test_pages are parameters here)
"""The emergency plans' editor in /admin (/admin/plans, issue 18 §1): its service (``admin.plans``) and its
callbacks as Dash calls them — a valid edit saved as the plan's next version with its audit row, an active event
keeping the version it started under, refusals naming the field and writing nothing, the same document again
making no version, an operator refused past the page guard, and the download of a stored version."""

from __future__ import annotations

import pytest
import yaml
from sqlalchemy import func, select

from admin import plans as editor
from alerts.rules_loader import sync_rule_files
from api.auth import PAGE_PATHS, PAGE_ROLES, page_of_component
from callbacks import admin_plans
from data.emergency_models import EmergencyPlan
from data.models import AuditLog, User
from dispatch import emergency, emergency_plans
from domain.errors import Forbidden, Invalid
from layouts import admin_plans as plans_page
from layouts import ids
from tests.unit.test_admin_pages import press
from tests.unit.test_pages import callback_context, city, server, signed_in, texts, with_testid  # noqa: F401

PLAN = "waterlogging"


@pytest.fixture
def plans(db, city):
    """The shipped rules and plans (each at v1) on the pages' small city."""
    with db.uow() as s:
        sync_rule_files(s)
        loaded, errors = emergency_plans.sync_plan_files(s)
        assert PLAN in loaded and errors == []


def _edited(text: str, hours: float = 0.75) -> str:
    doc = yaml.safe_load(text)
    doc["levels"][0]["tasks"][0]["deadline_hours"] = hours
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def _versions(session) -> int:
    return session.scalar(select(func.count()).select_from(EmergencyPlan).where(EmergencyPlan.plan_id == PLAN))


def _plan_audits(session) -> int:
    return session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "plan.save",
                                                                          AuditLog.target == f"plan:{PLAN}"))


def test_the_plans_page_is_admin_only_and_linked_from_the_admin_pages():
    assert PAGE_PATHS["/admin/plans"] == "admin_plans" and PAGE_ROLES["admin_plans"] == frozenset({"admin"})
    names = [v for k, v in vars(ids).items() if k.startswith("ADMIN_PLANS_")]
    assert names and {page_of_component(i) for i in names} == {"admin_plans"}
    assert with_testid(plans_page.layout(), "admin-nav-plans")


def test_a_valid_edit_is_saved_as_the_next_version_and_an_active_event_keeps_its_own(db, city, plans):
    with db.uow() as s:
        admin = s.get(User, city.admin.id)
        event = emergency.open_event(s, admin, title="积水", scenario="urban_waterlogging", lon=117.005, lat=36.605)
        emergency.activate(s, admin, event.id, plan_id=PLAN, level="IV")
        event_id = event.id
        text = editor.plan_text(s, admin, PLAN)
        saved = editor.save_plan_text(s, admin, _edited(text))
        assert (saved.plan_id, saved.version, saved.created) == (PLAN, 2, True)
    with db.uow() as s:
        admin = s.get(User, city.admin.id)
        listed = next(p for p in editor.plan_versions(s, admin) if p.plan_id == PLAN)
        assert [v.version for v in listed.versions] == [2, 1]
        assert (listed.versions[0].created_by, listed.versions[0].source) == ("root", "api")
        assert yaml.safe_load(editor.plan_text(s, admin, PLAN, 2))["levels"][0]["tasks"][0]["deadline_hours"] == 0.75
        assert editor.plan_text(s, admin, PLAN, 1) == text  # the old version is kept as it was
        assert _plan_audits(s) == 2  # the file's v1 and the editor's v2
        assert emergency.get_event(s, event_id).plan_version == 1
        again = editor.save_plan_text(s, admin, _edited(text))  # the same document again
        assert (again.version, again.created) == (2, False) and _versions(s) == 2 and _plan_audits(s) == 2


@pytest.mark.parametrize(("change", "field"), [
    (lambda doc: doc["levels"][0]["tasks"][0].update(lead="no_such_department"), "levels.0.tasks.0.lead"),
    (lambda doc: doc.update(levels=list(reversed(doc["levels"]))), "levels"),
    (lambda doc: doc["levels"][0]["tasks"][0].pop("deadline_hours"), "levels.0.tasks.0.deadline_hours"),
])
def test_an_invalid_plan_is_refused_naming_the_field_and_nothing_is_written(db, city, plans, change, field):
    with db.uow() as s:
        admin = s.get(User, city.admin.id)
        doc = yaml.safe_load(editor.plan_text(s, admin, PLAN))
        change(doc)
        with pytest.raises(Invalid) as refused:
            editor.save_plan_text(s, admin, yaml.safe_dump(doc, allow_unicode=True))
        assert refused.value.values["field"] == field and field in refused.value.values["reason"]
        assert _versions(s) == 1 and _plan_audits(s) == 1


@pytest.mark.parametrize(("text", "why"), [("", "plan_empty"), ("   ", "plan_empty"),
                                           ("levels: [unclosed", "plan_yaml"), ("- a list", "plan_invalid"),
                                           ("x" * (editor.PLAN_TEXT_MAX + 1), "plan_too_long")])
def test_text_that_is_not_a_plan_document_is_refused(db, city, plans, text, why):
    with db.uow() as s, pytest.raises(Invalid) as refused:
        editor.check_plan(s, s.get(User, city.admin.id), text)
    assert refused.value.message_key == f"command_board2.{why}"


def test_an_operator_may_neither_read_nor_save_plans_in_the_editor(db, city, plans):
    with db.uow() as s:
        operator = s.get(User, city.operator.id)
        text = editor.plan_text(s, s.get(User, city.admin.id), PLAN)
        with pytest.raises(Forbidden):
            editor.save_plan_text(s, operator, _edited(text))
        with pytest.raises(Forbidden):
            editor.plan_versions(s, operator)
        assert _versions(s) == 1


def test_the_editor_page_lists_opens_checks_saves_and_downloads(server, db, city, plans):
    with signed_in(server, city.admin, lang="en"):
        table, options, picked = admin_plans.list_plans(0, None)
        assert PLAN in {o["value"] for o in options} and picked == options[0]["value"]
        assert with_testid(table, "admin_plans-row")
        versions, newest = admin_plans.list_versions(PLAN, 0)
        assert newest == 1 and [v["value"] for v in versions] == [1]
        text = admin_plans.open_version(1, PLAN)
        assert yaml.safe_load(text)["id"] == PLAN

        press(ids.ADMIN_PLANS_CHECK)
        message, changed, pick = admin_plans.check_or_save(1, None, _edited(text), 3)
        assert texts(message) == [f"Plan {PLAN} is valid; not saved yet."]
        broken = _edited(text).replace("lead: drainage", "lead: nobody", 1)
        press(ids.ADMIN_PLANS_SAVE)
        message, changed, pick = admin_plans.check_or_save(None, 1, broken, 3)
        (said,) = texts(message)
        assert "msg-error" in message.className and "levels.0.tasks.0.lead" in said and "nobody" in said
        with db.uow() as s:
            assert _versions(s) == 1  # neither the check nor the refusal wrote a version

        press(ids.ADMIN_PLANS_SAVE)
        message, changed, pick = admin_plans.check_or_save(None, 2, _edited(text), 3)
        assert texts(message) == [f"Plan {PLAN} saved as v2."] and changed == 4 and pick == PLAN
        versions, newest = admin_plans.list_versions(PLAN, changed)
        assert newest == 2 and [v["value"] for v in versions] == [2, 1]
        file = admin_plans.download(1, PLAN, 1)
        assert file["filename"] == f"{PLAN}-v1.yaml" and file["content"] == text


def test_the_service_refuses_an_operator_on_the_page_too(server, db, city, plans):
    with db.uow() as s:
        text = editor.plan_text(s, s.get(User, city.admin.id), PLAN)
    with signed_in(server, city.operator, lang="en"):
        press(ids.ADMIN_PLANS_SAVE)
        message, _, _ = admin_plans.check_or_save(None, 1, _edited(text), 0)
    assert texts(message) == ["Your role may not do this"]
    with db.uow() as s:
        assert _versions(s) == 1
