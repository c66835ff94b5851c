"""The console, worker, briefing and admin pages: their callbacks called as Dash calls them, by a
signed-in user, on a real (SQLite) database — and what they change there."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dash
import pytest
import shapely
from dash import no_update
from dash._callback_context import context_value
from dash._utils import AttributeDict
from dash.exceptions import PreventUpdate
from flask import Flask
from flask import session as flask_session
from flask_login import login_user
from sqlalchemy import select

from api.auth import AuthUser, init_auth, page_of_component
from app import register_pages
from callbacks import admin, console, worker
from data.accounts import create_user
from data.catalog import CATEGORIES, DEPARTMENTS, load_catalog
from data.models import (
    Area,
    AuditLog,
    Department,
    Grid,
    Incident,
    IncidentHistory,
    Rule,
    User,
    utcnow,
)
from dispatch import routing
from dispatch.service import apply_action, create_incident
from i18n import t
from layouts import ids

ROOT = Path(__file__).resolve().parents[2]
G1_POINT = (117.005, 36.605)
G2_POINT = (117.015, 36.605)
MY_PAGES = ("console", "worker", "briefing", "admin")


# --- the city, the app and the signed-in user -----------------------------------------------------


@dataclass
class City:
    admin: User
    operator: User
    handler: User
    worker1: User
    worker2: User


def _bounded(model: type, box: shapely.Geometry, **columns: Any) -> Any:
    bounds = dict(zip(("minx", "miny", "maxx", "maxy"), box.bounds, strict=True))
    return model(geom=shapely.to_wkb(box), **bounds, **columns)


@pytest.fixture
def city(db) -> City:
    """The catalog, one community with two unit grids, and a user per role the pages serve."""
    routing.clear_cache()
    with db.uow() as s:
        load_catalog(s)
        community = _bounded(Area, shapely.box(117.0, 36.6, 117.02, 36.61), code="C1", name="C1",
                             level="community")
        s.add(community)
        s.flush()
        s.add_all([_bounded(Grid, shapely.box(117.0, 36.6, 117.01, 36.61), code="G1", name="G1",
                            community_id=community.id),
                   _bounded(Grid, shapely.box(117.01, 36.6, 117.02, 36.61), code="G2", name="G2",
                            community_id=community.id)])
        s.flush()
        return City(
            admin=create_user(s, "root", "admin"),
            operator=create_user(s, "op", "operator", display_name="值班员甲"),
            handler=create_user(s, "san", "handler", department_code="sanitation"),
            worker1=create_user(s, "w1", "worker", grid_code="G1"),
            worker2=create_user(s, "w2", "worker", grid_code="G2"),
        )


@pytest.fixture
def server(db) -> Flask:
    """A Flask server with the database, Flask-Login and the Dash pages registered, as in app.py."""
    app = Flask(__name__)
    app.secret_key = "test"
    init_auth(app, db)
    dash.Dash(__name__, server=app, use_pages=True, pages_folder="", assets_folder=str(ROOT / "assets"))
    register_pages()
    return app


@contextmanager
def signed_in(server: Flask, user: User, lang: str = "zh") -> Iterator[None]:
    """A callback request by ``user``."""
    with server.test_request_context("/_dash-update-component", method="POST"):
        flask_session["lang"] = lang
        login_user(AuthUser.of(user))
        yield


@pytest.fixture(autouse=True)
def callback_context() -> Iterator[None]:
    token = context_value.set(AttributeDict())
    yield
    context_value.reset(token)


def clicked(component_id: dict[str, Any], n_clicks: int | None = 1,
            states_list: list[Any] | None = None) -> None:
    """What Dash tells a callback when the button ``component_id`` was clicked (or re-rendered: None)."""
    prop_id = f"{json.dumps(component_id, sort_keys=True)}.n_clicks"
    context_value.set(AttributeDict(triggered_inputs=[{"prop_id": prop_id, "value": n_clicks}],
                                    states_list=states_list or []))


# --- incidents -------------------------------------------------------------------------------------


def report(db, actor: User, *, title: str = "暴露垃圾", category: str = "S0101", point=G1_POINT,
           actions: tuple[str, ...] = (), reported_at: datetime | None = None) -> int:
    """An incident reported through the service and taken through ``actions`` by ``actor``."""
    with db.uow() as s:
        incident = create_incident(s, category_code=category, source="patrol", title=title, lon=point[0],
                                   lat=point[1], reported_at=reported_at)
        for action in actions:
            apply_action(s, incident.id, action, version=incident.version, actor=actor)
        return incident.id


def stored(db, incident_id: int) -> tuple[Incident, list[IncidentHistory], str | None]:
    """The incident as stored, its history, and the code of its department."""
    with db.uow() as s:
        incident = s.get(Incident, incident_id)
        history = list(s.scalars(select(IncidentHistory).where(IncidentHistory.incident_id == incident_id)
                                 .order_by(IncidentHistory.id)))
        department = s.get(Department, incident.department_id) if incident.department_id else None
        return incident, history, department.code if department else None


# --- walking rendered components ---------------------------------------------------------------------


def walk(component: Any) -> Iterator[Any]:
    if isinstance(component, list | tuple):
        for child in component:
            yield from walk(child)
        return
    if component is None or isinstance(component, str | int | float):
        return
    yield component
    yield from walk(getattr(component, "children", None))


def with_testid(component: Any, testid: str) -> list[Any]:
    return [c for c in walk(component) if getattr(c, "data-testid", None) == testid]


def texts(component: Any) -> list[str]:
    if isinstance(component, str | int | float) and not isinstance(component, bool):
        return [str(component)]
    if isinstance(component, list | tuple):
        return [s for child in component for s in texts(child)]
    return texts(getattr(component, "children", None)) if component is not None else []


def ids_in(component: Any) -> set[str]:
    return {getattr(c, "data-testid") for c in walk(component) if getattr(c, "data-testid", None)}


def cells(row: Any) -> list[str]:
    return [" ".join(texts(cell)) for cell in row.children]


# --- console -----------------------------------------------------------------------------------------


def test_queue_lists_filtered_rows_with_translated_state_and_local_report_time(server, db, city):
    filed = report(db, city.operator, title="路边垃圾", actions=("file",),
                   reported_at=datetime(2026, 1, 5, 2, 0, tzinfo=UTC))
    report(db, city.operator, title="新上报")
    with signed_in(server, city.operator):
        only_filed, versions, _ = console.show_queue(None, "filed", None, None, 0, None)
        everything, *_ = console.show_queue(None, None, None, None, 0, None)
    rows = with_testid(only_filed, "incident-row")
    assert len(rows) == 1
    _, _, title, category, state, card, grid, department, deadline, reported = cells(rows[0])
    assert versions == {str(filed): 2}
    assert deadline == "01-05 14:00"  # the 4-hour handling limit, in Asia/Shanghai
    # filed today with a 4-hour limit that ran out in January: a red card
    assert (title, category, state, card, grid) == ("路边垃圾", "暴露垃圾", "已立案", "红牌", "G1")
    assert department == next(d.name_zh for d in DEPARTMENTS if d.code == "sanitation")
    assert reported == "2026-01-05 10:00"  # 02:00 UTC shown in Asia/Shanghai
    assert with_testid(rows[0], "console-select")[0].id == {"type": "console-select", "id": filed}
    assert len(with_testid(everything, "incident-row")) == 2


def test_a_handler_sees_only_the_incidents_of_their_department(server, db, city):
    report(db, city.operator, title="垃圾", category="S0101")  # sanitation
    report(db, city.operator, title="燃气", category="L01")  # gas company
    with signed_in(server, city.handler):
        queue, *_ = console.show_queue(None, None, None, None, 0, None)
    assert [cells(r)[2] for r in with_testid(queue, "incident-row")] == ["垃圾"]


def test_an_unchanged_queue_is_not_redrawn_and_a_change_redraws_it(server, db, city):
    """The 5-s tick leaves an unchanged queue alone (a redraw replaced the button under the pointer and
    cleared the ticked rows); a new incident, an action, or another selection redraws it."""
    report(db, city.operator, title="垃圾")
    with signed_in(server, city.operator):
        first, _, shown = console.show_queue(1, None, None, None, 0, None)
        assert console.show_queue(2, None, None, None, 0, None, shown=shown) == (no_update,) * 3
        selected = with_testid(first, "console-select")[0].id["id"]
        highlighted, _, shown_selected = console.show_queue(3, None, None, None, 0, selected, shown=shown)
        assert highlighted is not no_update and shown_selected != shown
        incident_id = report(db, city.operator, title="新的")
        queue, versions, _ = console.show_queue(4, None, None, None, 0, selected, shown=shown_selected)
    assert str(incident_id) in versions and len(with_testid(queue, "incident-row")) == 2


def test_a_rerendered_queue_selects_nothing_and_a_click_selects_its_incident(server, db, city):
    with signed_in(server, city.operator):
        clicked({"type": "console-select", "id": 7}, n_clicks=None)
        with pytest.raises(PreventUpdate):
            console.select_incident([None])
        clicked({"type": "console-select", "id": 7})
        assert console.select_incident([1]) == (7, None)  # the previous incident's message is cleared


def test_dispatch_from_the_console_moves_the_incident_and_writes_its_history(server, db, city):
    incident_id = report(db, city.operator, actions=("file",))
    with signed_in(server, city.operator):
        detail, shown, buttons, form_hidden, department_hidden, routed, *_ = console.show_detail(incident_id, 0)
        assert shown == {"id": incident_id, "version": 2}
        assert routed == "sanitation"  # the routed department is the default
        assert (form_hidden, department_hidden) == (False, False)
        assert ids_in(buttons) == {f"console-action-{a}"
                                   for a in ("dispatch", "escalate", "postpone", "merge", "comment")}
        clicked({"type": "console-action", "action": "dispatch"})
        message, reload, note = console.take_action([1], shown, "请城管协助清运", "urban_management", 0)
    incident, history, department = stored(db, incident_id)
    assert texts(message) == [t("pages.action_done", "zh", action="派遣", code=incident.code)]
    assert (reload, note) == (1, "")
    assert (incident.state, incident.version, department) == ("dispatched", 3, "urban_management")
    last = history[-1]
    assert (last.action, last.from_state, last.to_state, last.note, last.actor_id) == \
        ("dispatch", "filed", "dispatched", "请城管协助清运", city.operator.id)
    with signed_in(server, city.operator):
        detail, shown, buttons, *_ = console.show_detail(incident_id, 1)
    timeline = [" ".join(texts(item)) for item in with_testid(detail, "history-item")]
    assert len(timeline) == 3  # create, file, dispatch
    assert all(part in timeline[-1] for part in ("值班员甲", "已立案 → 已派遣", "请城管协助清运"))
    assert shown["version"] == 3


def test_a_stale_version_shows_the_conflict_reloads_and_changes_nothing(server, db, city):
    incident_id = report(db, city.operator, actions=("file",))
    with signed_in(server, city.operator):
        _, shown, *_ = console.show_detail(incident_id, 0)
    with db.uow() as s:  # someone else acts first
        apply_action(s, incident_id, "comment", version=shown["version"], actor=city.admin, note="我先看看")
    with signed_in(server, city.operator):
        clicked({"type": "console-action", "action": "dispatch"})
        message, reload, note = console.take_action([1], shown, "派给环卫", "sanitation", 4)
        assert texts(message) == [t("error.stale_version", "zh")]
        assert message.role == "alert"
        assert (reload, note) == (5, no_update)  # the detail reloads; the typed note is kept
        _, fresh, *_ = console.show_detail(incident_id, reload)
    incident, history, _ = stored(db, incident_id)
    assert (incident.state, incident.version) == ("filed", 3)
    assert [h.action for h in history] == ["create", "file", "comment"]
    assert fresh == {"id": incident_id, "version": 3}


def test_an_action_the_role_may_not_take_is_refused_with_a_translated_message(server, db, city):
    incident_id = report(db, city.operator, actions=("file",))
    with signed_in(server, city.handler, lang="en"):
        _, shown, buttons, *_ = console.show_detail(incident_id, 0)
        # no close button for a handler; a postponement they may only request
        assert ids_in(buttons) == {"console-action-comment", "console-action-postpone"}
        clicked({"type": "console-action", "action": "close"})  # a crafted request all the same
        message, reload, note = console.take_action([1], shown, "x", None, 0)
    assert texts(message) == [t("error.forbidden_action", "en")]
    assert (reload, note) == (no_update, no_update)
    assert stored(db, incident_id)[0].state == "filed"


# --- worker ------------------------------------------------------------------------------------------


def test_a_worker_sees_only_their_grids_tasks_most_urgent_first(server, db, city):
    both = ("file", "dispatch")
    later = report(db, city.operator, title="井盖缺失", category="B0101", actions=both)  # 24 h to handle
    sooner = report(db, city.operator, title="暴露垃圾", category="S0101", actions=both)  # 4 h
    report(db, city.operator, title="别的网格", point=G2_POINT, actions=("file", "dispatch"))
    report(db, city.operator, title="未派遣")
    with signed_in(server, city.worker1):
        children, versions, *_ = worker.show_tasks(None, None, 0)
    cards = with_testid(children, "task-card")
    titles = [next(s for s in texts(c) if s in ("井盖缺失", "暴露垃圾")) for c in cards]
    assert titles == ["暴露垃圾", "井盖缺失"]
    assert versions == {str(sooner): 3, str(later): 3}
    for card in cards:
        assert "worker-start" in ids_in(card) and "worker-resolve" not in ids_in(card)
        assert "已派遣" in texts(card) and "G1" in " ".join(texts(card))


def test_the_minute_refresh_leaves_unchanged_task_cards_alone(server, db, city):
    """A refresh that would draw the same cards leaves them (and the photo picked on one) in place; a
    task that moves is drawn anew."""
    incident_id = report(db, city.operator, actions=("file", "dispatch"))
    with signed_in(server, city.worker1):
        _, versions, shown = worker.show_tasks(None, 1, 0)
        assert worker.show_tasks(None, 2, 0, shown) == (no_update,) * 3
    report(db, city.operator, title="新任务", actions=("file", "dispatch"))
    with signed_in(server, city.worker1):
        children, versions, _ = worker.show_tasks(None, 3, 0, shown)
    assert len(with_testid(children, "task-card")) == 2 and str(incident_id) in versions


def test_a_worker_starts_then_resolves_a_task_with_a_note(server, db, city):
    incident_id = report(db, city.operator, actions=("file", "dispatch"))
    start = {"type": "worker-action", "id": incident_id, "action": "start"}
    with signed_in(server, city.worker1):
        _, versions, *_ = worker.show_tasks(None, None, 0)
        clicked(start)
        _, reload = worker.take_task_action([1], [], [], versions, 0)
        assert reload == 1
        children, versions, *_ = worker.show_tasks(None, None, reload)
    assert stored(db, incident_id)[0].state == "in_progress"
    card = with_testid(children, "task-card")[0]
    assert "worker-resolve" in ids_in(card)
    note_id = {"type": "worker-note", "id": incident_id}
    assert any(getattr(c, "id", None) == note_id for c in walk(card))
    resolve = {"type": "worker-action", "id": incident_id, "action": "resolve"}
    with signed_in(server, city.worker1):
        clicked(resolve, states_list=[
            [{"id": note_id, "property": "value", "value": "已清运，附照片"}],
            {"id": "worker-versions", "property": "data", "value": versions},
            {"id": "worker-result", "property": "data", "value": 1},
        ])
        message, reload = worker.take_task_action([1, 1], ["已清运，附照片"], [None], versions, 1)
        remaining, _, *_ = worker.show_tasks(None, None, reload)
    incident, history, _ = stored(db, incident_id)
    assert incident.state == "resolved"
    last = history[-1]
    assert (last.action, last.note, last.actor_id) == ("resolve", "已清运，附照片", city.worker1.id)
    assert "msg-ok" in message.className
    assert texts(remaining) == [t("worker.none", "zh")]


def test_a_worker_cannot_act_on_another_grids_task(server, db, city):
    other = report(db, city.operator, point=G2_POINT, actions=("file", "dispatch"))
    with signed_in(server, city.worker1):
        clicked({"type": "worker-action", "id": other, "action": "start"})
        message, reload = worker.take_task_action([1], [], [], {str(other): 3}, 0)
    assert texts(message) == [t("error.out_of_scope", "zh")]
    assert reload is no_update
    assert stored(db, other)[0].state == "dispatched"


# --- admin -------------------------------------------------------------------------------------------


def test_admin_tables_show_people_and_reference_data_but_never_password_hashes(server, db, city):
    with db.uow() as s:
        create_user(s, "secretive", "leader", password="a-long-password")
        name = {"zh": "燃气管网压力超限", "en": "Gas main over-pressure"}
        s.add(Rule(id="gas-pressure-high", body={"name": name}, enabled=False, source="file"))
        base = utcnow() + timedelta(hours=1)
        s.add_all(AuditLog(at=base + timedelta(minutes=i), action=f"test.{i}", target="t") for i in range(60))
        hashes = [h for h in s.scalars(select(User.password_hash)) if h]
    with signed_in(server, city.admin, lang="en"):
        departments, categories, rules, audit = admin.show_admin(None)
        with db.uow() as s:
            users = admin.users_table(s)
    all_text = " ".join(texts([users, departments, categories, rules, audit]))
    assert hashes and not any(h in all_text for h in hashes) and "argon2" not in all_text
    user_rows = {cells(r)[0]: cells(r) for r in with_testid(users, "admin-user-row")}
    assert set(user_rows) == {"root", "op", "san", "w1", "w2", "secretive"}
    assert user_rows["w1"][2:5] == [t("role.worker", "en"), "G1", "—"]
    assert user_rows["san"][4] == next(d.name_en for d in DEPARTMENTS if d.code == "sanitation")
    assert len(with_testid(departments, "admin-department-row")) == len(DEPARTMENTS)
    assert len(with_testid(categories, "admin-category-row")) == len(CATEGORIES)
    assert [cells(r) for r in with_testid(rules, "admin-rule-row")] == \
        [["gas-pressure-high", "Gas main over-pressure", "no", "file"]]
    audit_rows = with_testid(audit, "admin-audit-row")
    assert len(audit_rows) == admin.AUDIT_ROWS
    assert cells(audit_rows[0])[2] == "test.59"  # newest first


def test_the_users_table_pages_and_filters_by_name_or_grid(server, db, city):
    with db.uow() as s:
        for i in range(admin.USER_ROWS + 5):
            create_user(s, f"zz{i:02d}", "leader", display_name=f"Lin_{i}")
    with signed_in(server, city.admin, lang="en"), db.uow() as s:
        first, second = admin.users_table(s), admin.users_table(s, page=1)
        past_the_end = admin.users_table(s, page=99)
        by_grid, by_name = admin.users_table(s, "g1"), admin.users_table(s, "lin_34")
        literal = admin.users_table(s, "%")
    names = [cells(r)[0] for r in with_testid(first, "admin-user-row")]
    rest = [cells(r)[0] for r in with_testid(second, "admin-user-row")]
    total = admin.USER_ROWS + 5 + 5  # and the five of the test city
    assert len(names) == admin.USER_ROWS and names == sorted(names)
    assert len(rest) == total - admin.USER_ROWS and not set(names) & set(rest)
    assert texts(with_testid(first, "admin-users-count")) == [f"Page 1 of 2, {total} rows"]
    assert [cells(r)[0] for r in with_testid(past_the_end, "admin-user-row")] == rest  # the last page
    assert [cells(r)[0] for r in with_testid(by_grid, "admin-user-row")] == ["w1"]
    assert [cells(r)[0] for r in with_testid(by_name, "admin-user-row")] == ["zz34"]
    assert with_testid(literal, "admin-user-row") == []  # % is a character, not a wildcard


# --- pages and the access guard ----------------------------------------------------------------------


def _layout(server: Flask, path: str, user: User) -> Any:
    """The registered layout of ``path`` as ``user`` gets it (the router checks the role)."""
    page = next(p for p in dash.page_registry.values() if p["path"] == path)
    with server.test_request_context(path):
        login_user(AuthUser.of(user))
        return page["layout"]()


def test_pages_are_registered_at_their_paths_with_their_hooks(server, city):
    paths = {p["path"] for p in dash.page_registry.values()}
    assert {"/console", "/worker", "/briefing", "/admin"} <= paths
    console_ids = {getattr(c, "id", None) for c in walk(_layout(server, "/console", city.admin))}
    assert {"console-queue", "console-tick", "console-note", "console-department"} <= console_ids
    assert "console-queue" not in {getattr(c, "id", None) for c in walk(_layout(server, "/console", city.worker1))}
    phone = list(walk(_layout(server, "/worker", city.admin)))
    assert not any(isinstance(c, dash.dcc.Graph) for c in phone)  # no plotly until the patrol form opens


def _output_ids(module: Path) -> list[str]:
    """The component ids a callback module writes: the first argument of every ``Output(...)``
    (a pattern-matching id counts by its ``type``), resolved through ``layouts.ids``."""
    found = []
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Output":
            target = node.args[0]
            if isinstance(target, ast.Dict):
                target = next(v for k, v in zip(target.keys, target.values, strict=True)
                              if isinstance(k, ast.Constant) and k.value == "type")
            assert isinstance(target, ast.Attribute) and getattr(target.value, "id", None) == "ids", \
                f"{module.name}: Output ids come from layouts.ids"
            found.append(getattr(ids, target.attr))
    return found


@pytest.mark.parametrize("page", MY_PAGES)
def test_every_callback_of_a_page_writes_only_to_that_page(page):
    """The access guard authorizes a callback by the page prefix of its outputs (api/auth.py)."""
    outputs = _output_ids(ROOT / "callbacks" / f"{page}.py")
    assert outputs
    assert {page_of_component(c) for c in outputs} == {page}, outputs
