# ruff: noqa: F811  (pytest fixtures imported from test_pages are parameters here)
"""The /admin sub-pages of issue 16 (people, departments, settings, import): their callbacks called as Dash
calls them by a signed-in user, on a real (SQLite) database — what they show, what they change, and that
every refusal says why and changes nothing."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from dash._callback_context import context_value
from dash._utils import AttributeDict
from sqlalchemy import select

from api.auth import PAGE_PATHS, PAGE_ROLES, allowed, page_of_component
from app import create_app
from callbacks import admin_city, admin_import, admin_people, admin_settings
from data.admin_models import SettingOverride
from data.effective_settings import effective_settings
from data.models import AuditLog, Department, User
from layouts import admin, ids
from layouts import admin_city as city_page
from layouts import admin_import as import_page
from layouts import admin_people as people_page
from layouts import admin_settings as settings_page
from settings import Settings
from tests.unit.test_pages import callback_context, city, server, signed_in, texts, walk, with_testid  # noqa: F401

SUB_PAGES = {"/admin/people": "admin_people", "/admin/city": "admin_city", "/admin/settings": "admin_settings",
             "/admin/import": "admin_import"}


def press(component_id: Any, states: list[list[dict[str, Any]]] | None = None,
          outputs: list[dict[str, Any]] | None = None) -> None:
    """What Dash tells a callback when ``component_id`` was clicked, with the pattern states ``states``."""
    key = json.dumps(component_id, sort_keys=True, separators=(",", ":")) if isinstance(component_id, dict) \
        else component_id
    context_value.set(AttributeDict(triggered_inputs=[{"prop_id": f"{key}.n_clicks", "value": 1}],
                                    states_list=states or [], outputs_list=outputs or []))


def form(id_type: str, **values: Any) -> list[dict[str, Any]]:
    return [{"id": {"type": id_type, "field": k}, "property": "value", "value": v} for k, v in values.items()]


# --- the pages ------------------------------------------------------------------------------------------


def test_the_sub_pages_are_admin_only_and_linked_from_admin_not_from_the_top_bar(server, city):
    for path, page in SUB_PAGES.items():
        assert PAGE_PATHS[path] == page and PAGE_ROLES[page] == frozenset({"admin"})
        roles = ("admin", "operator", "leader", "handler", "worker")
        assert [role for role in roles if allowed(role, page)] == ["admin"]
    for page in SUB_PAGES.values():  # each component id names its page: its callbacks are admin-only too
        names = [v for k, v in vars(ids).items() if k.startswith(page.upper() + "_")]
        assert names and {page_of_component(i) for i in names} == {page}
    assert page_of_component(ids.ADMIN_NAV) == "admin"
    with signed_in(server, city.admin, lang="en"):
        links = with_testid(admin.layout(), "admin-nav-people")
        assert texts(links) == ["People"]
        for module in (people_page, city_page, settings_page, import_page):
            assert with_testid(module.layout(), "admin-nav-import")


def test_the_top_bar_does_not_list_the_sub_pages(db):
    server, _ = create_app(Settings(secret_key="k" * 32), db=db)
    from app import _layout

    with server.test_request_context("/"):
        from flask_login import login_user

        from api.auth import AuthUser

        login_user(AuthUser(1, "root", "Root", "admin", None, None))
        shell = _layout()
    hrefs = [getattr(c, "href", None) for c in walk(shell)]
    assert "/admin" in hrefs and not any(h and h.startswith("/admin/") for h in hrefs)


# --- /admin/people ---------------------------------------------------------------------------------------


def test_an_admin_creates_edits_and_resets_a_user_on_the_people_page(server, db, city):
    with signed_in(server, city.admin, lang="en"):
        users, grids, departments, _areas = admin_people.fill(0)
        assert "op" in {o["value"] for o in users} and {o["value"] for o in grids} == {"G1", "G2"}
        assert "sanitation" in {o["value"] for o in departments}
        values = {"username": "zhao", "display_name": "赵六", "role": "worker", "grid": "G2", "department": None,
                  "area": None, "phone": None}
        press(ids.ADMIN_PEOPLE_SAVE, [form(ids.ADMIN_PEOPLE_FORM, **values)])
        message, code, changed = admin_people.change(1, None, None, None, [], 0)
        assert texts(message) == ["User zhao created."] and changed == 1
        (shown,) = with_testid(code, "admin_people-code-value")
        press(ids.ADMIN_PEOPLE_SAVE, [form(ids.ADMIN_PEOPLE_FORM, **{**values, "phone": "13800000000"})])
        message, code, _ = admin_people.change(2, None, None, None, [], 1)
        assert texts(message) == ["User zhao saved."] and code is None
        context_value.set(AttributeDict(outputs_list=[{"id": e["id"]} for e in form(ids.ADMIN_PEOPLE_FORM, **values)]))
        assert admin_people.load("zhao") == ["zhao", "赵六", "worker", "G2", None, None, "13800000000"]
        press(ids.ADMIN_PEOPLE_RESET, [form(ids.ADMIN_PEOPLE_FORM, **values)])
        message, code, _ = admin_people.change(None, 1, None, None, [], 2)
        assert texts(message)[0].startswith("zhao was reset") and with_testid(code, "admin_people-code-value")
        press(ids.ADMIN_PEOPLE_DISABLE, [form(ids.ADMIN_PEOPLE_FORM, **values)])
        message, _, _ = admin_people.change(None, None, 1, None, [], 3)
        assert texts(message) == ["zhao disabled; their sessions ended."]
    with db.uow() as s:
        zhao = s.scalar(select(User).where(User.username == "zhao"))
        assert (zhao.active, zhao.phone, zhao.password_hash) == (False, "13800000000", None)
        rows = s.scalars(select(AuditLog).where(AuditLog.target == "user:zhao").order_by(AuditLog.id)).all()
    assert [r.action for r in rows if r.action.startswith("user.")] == ["user.create", "user.edit", "user.reset",
                                                                        "user.disable"]
    assert not any(shown.children in json.dumps(r.detail, ensure_ascii=False) for r in rows)  # codes never logged


def test_a_bad_user_is_refused_on_the_page_with_its_reason(server, db, city):
    values = {"username": "q", "display_name": "Q", "role": "worker", "grid": None, "department": None,
              "area": "C1", "phone": None}  # C1 is a community: no scope
    with signed_in(server, city.admin, lang="en"):
        press(ids.ADMIN_PEOPLE_SAVE, [form(ids.ADMIN_PEOPLE_FORM, **values)])
        message, code, changed = admin_people.change(1, None, None, None, [], 4)
    assert texts(message) == ["C1 is not a district or street of the city"] and code is None and changed == 4
    assert "msg-error" in message.className
    with db.uow() as s:
        assert s.scalar(select(User).where(User.username == "q")) is None


def test_an_operator_is_refused_by_the_service_even_past_the_page_guard(server, db, city):
    values = {"username": "q", "display_name": "Q", "role": "admin", "grid": None, "department": None,
              "area": None, "phone": None}
    with signed_in(server, city.operator, lang="en"):
        press(ids.ADMIN_PEOPLE_SAVE, [form(ids.ADMIN_PEOPLE_FORM, **values)])
        message, code, _ = admin_people.change(1, None, None, None, [], 0)
    assert texts(message) == ["Your role may not do this"] and code is None


# --- /admin/city -----------------------------------------------------------------------------------------


def test_departments_are_listed_created_and_refused_on_the_city_page(server, db, city):
    with signed_in(server, city.admin, lang="en"):
        table, picks, parents = admin_city.fill(0)
        assert len(with_testid(table, "admin_city-row")) == len(picks) == len(parents) > 0
        press(ids.ADMIN_CITY_SAVE, [form(ids.ADMIN_CITY_FORM, code="water", name_zh="水务局", name_en="Water",
                                         parent="sanitation")])
        message, changed = admin_city.save(1, [], 0)
        assert texts(message) == ["Department water created."] and changed == 1
        press(ids.ADMIN_CITY_SAVE, [form(ids.ADMIN_CITY_FORM, code="sanitation", name_zh="环卫", name_en="Sanitation",
                                         parent="water")])
        message, changed = admin_city.save(2, [], 1)
        assert "cannot sit under itself" in texts(message)[0] and changed == 1
    with db.uow() as s:
        assert s.scalar(select(Department.parent_code).where(Department.code == "water")) == "sanitation"
        assert s.scalar(select(Department.parent_code).where(Department.code == "sanitation")) is None


# --- /admin/settings ---------------------------------------------------------------------------------------


def settings_states(**overrides: Any) -> list[dict[str, Any]]:
    """The numbers of the settings form as Dash sends them, the defaults unless overridden by item."""
    numbers = {("kpi_targets", "closure_rate.amber"): 0.95, ("kpi_targets", "closure_rate.red"): 0.9,
               ("kpi_targets", "on_time_closure_rate.amber"): 0.9, ("kpi_targets", "on_time_closure_rate.red"): 0.8,
               ("grade_weights", "closure_rate"): 0.4, ("grade_weights", "on_time_closure_rate"): 0.4,
               ("grade_weights", "rework_rate"): -0.2, ("grade_weights", "handling_rate"): None,
               ("grade_thresholds", "a"): 0.85, ("grade_thresholds", "b"): 0.7}
    for name, value in overrides.items():
        key, item = name.split("__")
        numbers[(key, item.replace("_dot_", "."))] = value
    return [{"id": {"type": ids.ADMIN_SETTINGS_VALUE, "key": k, "item": i}, "property": "value", "value": v}
            for (k, i), v in numbers.items()]


def test_the_settings_page_shows_changes_and_resets_the_settings_in_force(server, db, city):
    save_targets = {"type": ids.ADMIN_SETTINGS_SAVE, "key": "kpi_targets"}
    with signed_in(server, city.admin, lang="en"):
        shown, week, _holidays = admin_settings.fill(0)
        (amber,) = with_testid(shown, "admin_settings-kpi_targets-closure_rate.amber")
        assert amber.children.value == 0.95 and week.startswith("1 08:30-12:00")
        assert texts(with_testid(shown, "admin_settings-kpi_targets-state")) == ["Environment default"]
        press(save_targets, [settings_states(kpi_targets__closure_rate_dot_amber=0.98)])
        message, changed = admin_settings.change([1], [None], [], 0)
        assert texts(message) == ["KPI targets (big screen): saved; every figure uses it from now on."]
        shown, *_ = admin_settings.fill(changed)
        assert texts(with_testid(shown, "admin_settings-kpi_targets-state"))[0].startswith("Set here")
        press(save_targets, [settings_states(kpi_targets__closure_rate_dot_red=0.99)])
        message, changed = admin_settings.change([2], [None], [], 1)
        assert texts(message)[0].startswith("Not saved: closure_rate: targets need 0 <= red <= amber")
        assert changed == 1
        press({"type": ids.ADMIN_SETTINGS_SAVE, "key": "grade_weights"},
              [settings_states(grade_weights__closure_rate=1, grade_weights__on_time_closure_rate=None,
                               grade_weights__rework_rate=None)])
        admin_settings.change([1], [None], [], 1)
    with db.uow() as s:
        rules = effective_settings(s)
        assert rules.kpi_targets["closure_rate"] == (0.98, 0.9) and rules.grade_weights == {"closure_rate": 1.0}
    with signed_in(server, city.admin, lang="en"):
        press({"type": ids.ADMIN_SETTINGS_RESET, "key": "kpi_targets"})
        message, _ = admin_settings.change([None], [1], [], 2)
        assert texts(message) == ["KPI targets (big screen): back to the environment default."]
        bad, _ = admin_settings.change_calendar(1, "1-5 09:00-12:00", "2026-02-30 x", 3)
        assert texts(bad)[0].startswith("The working calendar was not saved: line 1")
        good, _ = admin_settings.change_calendar(1, "1-5 09:00-12:00", "2026-10-01 国庆节", 3)
        assert texts(good) == ["Calendar saved (1 special days)"]
    with db.uow() as s:
        assert [r.key for r in s.scalars(select(SettingOverride))] == ["grade_weights"]
        actions = s.scalars(select(AuditLog.action).where(AuditLog.action.in_(
            ("setting.change", "setting.reset", "calendar.change"))).order_by(AuditLog.id)).all()
    assert actions == ["setting.change", "setting.change", "setting.reset", "calendar.change"]


def test_a_rerendered_settings_button_changes_nothing(server, city):
    from dash.exceptions import PreventUpdate

    with signed_in(server, city.admin):
        context_value.set(AttributeDict(triggered_inputs=[
            {"prop_id": json.dumps({"key": "kpi_targets", "type": ids.ADMIN_SETTINGS_SAVE}) + ".n_clicks",
             "value": None}]))
        with pytest.raises(PreventUpdate):
            admin_settings.change([None], [None], [], 0)


# --- /admin/import -----------------------------------------------------------------------------------------


def upload(text: str) -> str:
    return "data:text/csv;base64," + base64.b64encode(text.encode()).decode()


def test_an_upload_is_dry_run_then_imported_on_the_import_page(server, db, city):
    csv = upload("code,name_zh,name_en\nwater,水务局,Water\nbad,,X\n")
    with signed_in(server, city.admin, lang="en"):
        assert admin_import.show_file("depts.csv") == "File: depts.csv"
        press(ids.ADMIN_IMPORT_DRY_RUN)
        report = admin_import.run(1, None, csv, "depts.csv", "departments", None, None)
        assert texts(report)[0] == "Dry run of Departments: nothing was written."
        assert texts(with_testid(report, "admin_import-added")) == ["Added: 1"]
        assert [texts(r) for r in with_testid(report, "admin_import-rejected-row")] == [["2", "missing field name_zh"]]
        with db.uow() as s:
            assert s.scalar(select(Department).where(Department.code == "water")) is None
        press(ids.ADMIN_IMPORT_RUN)
        report = admin_import.run(1, 1, csv, "depts.csv", "departments", None, None)
        assert texts(report)[0] == "Departments imported."
        press(ids.ADMIN_IMPORT_RUN)
        refused = admin_import.run(1, 2, None, None, "departments", None, None)
        assert texts(refused) == ["Pick a file first"]
        refused = admin_import.run(1, 3, upload("x"), "a.doc", "departments", None, None)
        assert texts(refused)[0].startswith("Nothing was imported: cannot import a.doc")
    with db.uow() as s:
        assert s.scalar(select(Department.name_en).where(Department.code == "water")) == "Water"
        (row,) = s.scalars(select(AuditLog).where(AuditLog.action == "admin.import"))
        assert row.user_id == city.admin.id and row.detail["kind"] == "departments"


def test_the_import_page_offers_every_kind_the_service_imports():
    from admin.imports import IMPORT_KINDS

    assert import_page.KINDS == IMPORT_KINDS
    assert set(admin_settings.WEIGHT_KPIS) == set(__import__("settings").GRADE_KPIS)


# --- the settings in force on the big screen ------------------------------------------------------------------


def test_the_big_screen_colours_its_tile_by_the_target_set_in_admin(server, db, city):
    """Two incidents this month, one closed: a closure rate of 50 %, red under the default targets
    (0.95/0.90); a target set on /admin/settings (amber below 0.6, red below 0.4) makes it amber."""
    from admin.settings import change_setting
    from callbacks.bigscreen import live
    from tests.unit.test_pages import report

    report(db, city.admin, actions=("file", "dispatch", "start", "resolve", "close"))
    report(db, city.admin, actions=("file",))
    tile = [{"type": ids.BIGSCREEN_KPI_VALUE, "key": "closure_rate"}]

    def closure_tile() -> tuple[str, str]:
        with signed_in(server, city.admin, lang="en"):
            outputs = live.refresh(1, None, tile, [], None, None)
        return outputs[1][0], outputs[2][0]  # its value and the value's class

    assert closure_tile() == ("50.0%", "kpi-value kpi-red")
    with db.uow() as s:
        change_setting(s, city.admin, "kpi_targets", {"closure_rate": [0.6, 0.4]})
    assert closure_tile() == ("50.0%", "kpi-value kpi-amber")
