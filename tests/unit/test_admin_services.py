"""The administration services of issue 16 (``admin/``): users with an area scope and activation codes,
departments, categories, settings in the database and the working calendar — each refused to a non-admin,
refusing bad input with nothing written, and leaving an audit row; and the settings in force are the ones the
briefing grades with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from admin import categories as admin_categories
from admin.departments import DepartmentForm, save_department
from admin.imports import IMPORT_KINDS, import_upload
from admin.settings import change_setting, reset_setting, save_calendar
from admin.users import UserForm, create_user, edit_user, people_choices, reset_user, set_user_active, user_values
from data.admin_models import SettingOverride
from data.effective_settings import effective_settings
from data.importers import SPATIAL_KINDS
from data.models import AuditLog, Department, Grid, User
from dispatch.briefing import build_briefing, period_of
from dispatch.categories import CategoryChange
from dispatch.city_import import TABLE_KINDS, activate_user
from dispatch.kpi import local_midnight
from dispatch.service import apply_action, create_incident
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from tests.unit.test_dispatch_service import make_city


@pytest.fixture
def city(session):
    return make_city(session)


def audit_rows(session, action: str) -> list[AuditLog]:
    return list(session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def user_count(session) -> int:
    return session.scalar(select(func.count()).select_from(User))


# --- users ---------------------------------------------------------------------------------------------


def test_an_admin_creates_a_scoped_operator_who_activates_with_the_one_time_code(session, city):
    new = create_user(session, city.admin, UserForm("li", "李四", "operator", area="D1S1", phone="0531-1234567"))
    user = session.scalar(select(User).where(User.username == "li"))
    assert (user.role, user.area_code, user.password_hash, user.active) == ("operator", "D1S1", None, True)
    assert user.activation_hash and new.activation_code not in user.activation_hash
    (row,) = audit_rows(session, "user.create")
    assert (row.user_id, row.target) == (city.admin.id, "user:li")
    assert row.detail == {"display_name": "李四", "role": "operator", "area": "D1S1", "phone": "0531-1234567"}
    activate_user(session, "li", new.activation_code, "a-new-password")
    assert user.password_hash and user.activation_hash is None


def test_a_new_worker_with_a_grid_becomes_that_grids_worker(session, city):
    create_user(session, city.admin, UserForm("w9", "网格员九", "worker", grid="G2"))
    worker_id = session.scalar(select(User.id).where(User.username == "w9"))
    assert session.scalar(select(Grid.worker_id).where(Grid.code == "G2")) == worker_id


@pytest.mark.parametrize(("form", "refusal", "code"), [
    (UserForm("x", "X", "mayor"), Invalid, "unknown_role"),
    (UserForm("x", "X", "worker", grid="G404"), Invalid, "unknown_grid"),
    (UserForm("x", "X", "handler", department="nope"), Invalid, "unknown_department"),
    (UserForm("x", "X", "operator", area="D1S1C1"), Invalid, "invalid_area"),  # a community is no scope
    (UserForm("x", "X", "operator", area="999"), Invalid, "invalid_area"),
    (UserForm("x", "X", "worker", area="D1"), Invalid, "area_for_role"),
    (UserForm("x", "", "worker"), Invalid, "invalid_name"),
    (UserForm("a b", "X", "worker"), Invalid, "invalid_username"),
    (UserForm("x", "X", "worker", phone="call me"), Invalid, "invalid_phone"),
    (UserForm("op", "X", "worker"), Conflict, "user_exists"),
])
def test_bad_user_input_is_refused_with_its_reason_and_nothing_written(session, city, form, refusal, code):
    before = user_count(session)
    with pytest.raises(refusal) as caught:
        create_user(session, city.admin, form)
    assert caught.value.code == code
    assert user_count(session) == before and audit_rows(session, "user.create") == []


@pytest.mark.parametrize("who", ["operator", "leader", "gas_handler", "worker1", None])
def test_only_an_admin_may_change_users(session, city, who):
    actor = getattr(city, who) if who else None
    with pytest.raises(Forbidden):
        create_user(session, actor, UserForm("x", "X", "worker"))
    with pytest.raises(Forbidden):
        reset_user(session, actor, "op")
    with pytest.raises(Forbidden):
        set_user_active(session, actor, "op", False)
    assert session.scalar(select(User.active).where(User.username == "op")) is True


def test_editing_a_users_scope_ends_their_sessions_and_is_audited(session, city):
    epoch = city.operator.session_epoch
    edit_user(session, city.admin, UserForm("op", "值班员", "operator", area="D1"))
    assert city.operator.area_code == "D1" and city.operator.session_epoch == epoch + 1
    (row,) = audit_rows(session, "user.edit")
    assert row.detail == {"changed": ["area_code", "display_name"]}
    edit_user(session, city.admin, UserForm("op", "值班员", "operator", area="D1"))  # nothing changed
    assert city.operator.session_epoch == epoch + 1
    with pytest.raises(NotFound):
        edit_user(session, city.admin, UserForm("ghost", "G", "worker"))


def test_disable_enable_and_reset_by_a_new_activation_code(session, city):
    set_user_active(session, city.admin, "op", False)
    assert city.operator.active is False
    set_user_active(session, city.admin, "op", True)
    assert city.operator.active is True
    with pytest.raises(Invalid, match="yourself"):
        set_user_active(session, city.admin, "admin", False)
    first = reset_user(session, city.admin, "op").activation_code
    second = reset_user(session, city.admin, "op").activation_code
    assert city.operator.password_hash is None
    with pytest.raises(ValueError, match="no pending activation"):
        activate_user(session, "op", first, "pw-one")  # a newer code replaced it
    activate_user(session, "op", second, "pw-two")
    assert [r.action for r in session.scalars(select(AuditLog).where(AuditLog.target == "user:op")
                                              .where(AuditLog.action.like("user.%")).order_by(AuditLog.id))] == [
        "user.disable", "user.enable", "user.reset", "user.reset"]
    assert user_values(session, "op")["pending"] is False


def test_the_editor_offers_districts_and_streets_as_scopes(session, city):
    choices = people_choices(session)
    assert [code for code, _ in choices.areas] == ["D1", "D1S1"]
    assert [code for code, _ in choices.grids] == ["G1", "G2"]
    assert {code for code, *_ in choices.departments} == {"gas", "roads"}


# --- departments and categories ---------------------------------------------------------------------


def test_departments_are_created_edited_and_may_not_sit_under_themselves(session, city):
    save_department(session, city.admin, DepartmentForm("water", "水务局", "Water bureau"), create=True)
    save_department(session, city.admin, DepartmentForm("water-north", "北区水务", "Water north", "water"),
                    create=True)
    with pytest.raises(Invalid) as loop:
        save_department(session, city.admin, DepartmentForm("water", "水务局", "Water bureau", "water-north"),
                        create=False)
    assert loop.value.code == "parent_loop"
    with pytest.raises(Invalid, match="no department"):
        save_department(session, city.admin, DepartmentForm("x1", "甲", "X", "nowhere"), create=True)
    with pytest.raises(Conflict):
        save_department(session, city.admin, DepartmentForm("gas", "燃气", "Gas"), create=True)
    with pytest.raises(Forbidden):
        save_department(session, city.operator, DepartmentForm("x2", "乙", "Y"), create=True)
    save_department(session, city.admin, DepartmentForm("water", "水务集团", "Water group"), create=False)
    water = session.scalar(select(Department).where(Department.code == "water"))
    assert (water.name_zh, water.parent_code) == ("水务集团", None)
    assert [(r.action, r.detail) for r in session.scalars(
        select(AuditLog).where(AuditLog.target == "department:water").order_by(AuditLog.id))] == [
        ("department.create", {"name_zh": "水务局", "name_en": "Water bureau"}),
        ("department.edit", {"name_zh": "水务集团", "name_en": "Water group"})]


def test_categories_go_through_the_permission_check_and_are_audited(session, city):
    change = CategoryChange(code="S0900", name_zh="新类", name_en="New", kind="event", department="roads",
                            handle_hours=4, close_hours=8, working_hours=True, limits={"urgent": (1, 2)})
    with pytest.raises(Forbidden):
        admin_categories.save_category(session, city.operator, change, create=True)
    admin_categories.save_category(session, city.admin, change, create=True)
    (row,) = audit_rows(session, "category.create")
    assert row.detail["limits"] == {"urgent": [1, 2]} and row.detail["working_hours"] is True
    with pytest.raises(Invalid) as bad:
        admin_categories.save_category(session, city.admin, CategoryChange(**{**change.__dict__, "close_hours": 2}),
                                       create=False)
    assert bad.value.code == "invalid_hours"


# --- settings in the database ---------------------------------------------------------------------------


def test_a_kpi_target_override_merges_over_the_environment_default_and_is_audited(session, city):
    defaults = effective_settings(session)
    assert defaults.kpi_targets["closure_rate"] == (0.95, 0.90) and defaults.overridden == frozenset()
    now = change_setting(session, city.admin, "kpi_targets", {"closure_rate": [0.99, "0.97"]})
    assert now.kpi_targets == {"closure_rate": (0.99, 0.97), "on_time_closure_rate": (0.90, 0.80)}
    assert effective_settings(session).overridden == frozenset({"kpi_targets"})
    (row,) = audit_rows(session, "setting.change")
    assert (row.user_id, row.target) == (city.admin.id, "setting:kpi_targets")
    assert row.detail["before"]["closure_rate"] == [0.95, 0.9] and row.detail["after"]["closure_rate"] == [0.99, 0.97]
    reset_setting(session, city.admin, "kpi_targets")
    assert effective_settings(session).kpi_targets["closure_rate"] == (0.95, 0.90)
    assert [r.action for r in audit_rows(session, "setting.reset")] == ["setting.reset"]


@pytest.mark.parametrize(("key", "value", "reason"), [
    ("kpi_targets", {"closure_rate": [0.8, 0.9]}, "red <= amber"),
    ("kpi_targets", {"closure_rate": [1.2, 0.9]}, "<= 1"),
    ("kpi_targets", {"rework_rate": [0.1, 0.2]}, "no target"),
    ("kpi_targets", {"closure_rate": [0.9]}, "two numbers"),
    ("kpi_targets", {"closure_rate": ["x", 0.5]}, "not a number"),
    ("grade_weights", {"closure_rate": -0.5}, "at least one weight must be positive"),
    ("grade_weights", {"closure_rate": 2}, "in \\[-1, 1\\]"),
    ("grade_weights", {"closure_ratio": 1}, "unknown KPI"),
    ("grade_weights", {}, "non-empty"),
    ("grade_thresholds", [0.6, 0.7], "0 <= B <= A"),
    ("grade_thresholds", [0.8, -0.1], "0 <= B <= A"),
    ("grade_thresholds", [float("nan"), 0.5], "finite"),
    ("holidays", [], "unknown setting"),
])
def test_a_bad_setting_is_refused_naming_what_is_wrong_and_nothing_stored(session, city, key, value, reason):
    with pytest.raises(Invalid, match=reason) as caught:
        change_setting(session, city.admin, key, value)
    assert caught.value.code == "invalid_setting"
    assert session.scalar(select(func.count()).select_from(SettingOverride)) == 0
    assert audit_rows(session, "setting.change") == []


def test_only_an_admin_changes_settings(session, city):
    for actor in (city.operator, city.leader, None):
        with pytest.raises(Forbidden):
            change_setting(session, actor, "grade_thresholds", [0.9, 0.8])
        with pytest.raises(Forbidden):
            save_calendar(session, actor, "1-5 09:00-17:00", "")
    assert effective_settings(session).grade_thresholds == (0.85, 0.7)


def test_the_calendar_checks_holiday_dates_and_is_audited(session, city):
    with pytest.raises(Invalid) as bad:
        save_calendar(session, city.admin, "1-5 09:00-17:00", "2026-13-01 节日")
    assert bad.value.code == "invalid_date" and "2026-13-01" in bad.value.values["reason"]
    with pytest.raises(Invalid):
        save_calendar(session, city.admin, "1-5 17:00-09:00", "")
    assert save_calendar(session, city.admin, "1-5 09:00-17:00", "2026-10-01 国庆节\n2026-10-10 + 调休") == 2
    (row,) = audit_rows(session, "calendar.change")
    assert row.detail == {"weekdays": [1, 2, 3, 4, 5], "days": 2}


def test_the_briefing_grades_with_the_settings_in_force(session, city):
    """Two gas incidents, one closed on time: closure rate 0.5, on-time closure rate 1. The default weights
    score (0.4·0.5 + 0.4·1) / 0.8 = 0.75: B; weighing the closure rate alone scores 0.5: C under the default
    thresholds, A once they are 0.4/0.3 — one formula, with the settings in force. The incidents are reported
    today (local), at most 3 h ago: the day's briefing is then as of now and counts their closing."""
    now = datetime.now(UTC)
    start = max(now - timedelta(hours=3), local_midnight(now))
    for closes in (True, False):
        incident = create_incident(session, category_code="L01", source="patrol", title="漏气", lon=117.005,
                                   lat=36.605, reported_at=start)
        steps = ("file", "dispatch", "start", "resolve", "close") if closes else ("file", "dispatch")
        for action in steps:
            extra = {"department_code": "gas"} if action == "dispatch" else {}
            actor = city.gas_handler if action in ("start", "resolve") else city.operator
            incident = apply_action(session, incident.id, action, version=incident.version, actor=actor, **extra)
    period, previous = period_of("day", start.astimezone(city_zone()).date())

    def gas_grade() -> str | None:
        rows = build_briefing(session, period, previous, datetime.now(UTC)).departments
        return next(r.grade for r in rows if r.code == "gas")

    assert gas_grade() == "B"
    change_setting(session, city.admin, "grade_weights", {"closure_rate": 1})
    assert gas_grade() == "C"
    change_setting(session, city.admin, "grade_thresholds", [0.4, 0.3])
    assert gas_grade() == "A"
    reset_setting(session, city.admin, "grade_weights")
    assert gas_grade() == "A"  # 0.75 over the new thresholds


def city_zone():
    from settings import get_settings

    return get_settings().zone


# --- the import page's service ------------------------------------------------------------------------------


def test_the_page_imports_every_kind_of_the_command_line():
    assert set(IMPORT_KINDS) == set(SPATIAL_KINDS) | set(TABLE_KINDS)


def test_an_upload_is_dry_run_then_imported_audited_as_the_admin(db):
    with db.uow() as s:
        admin = create_admin(s)
    csv = "code,name_zh,name_en,parent\nwater,水务局,Water,\nwater-n,北区水务,Water north,water\nbad,,X,\n".encode()
    dry = import_upload(db, admin, "departments", "depts.csv", csv, dry_run=True)
    assert (dry.added, dry.dry_run, dry.rejected) == (2, True, [(3, "missing field name_zh")])  # rows count from 1
    with db.uow() as s:
        assert s.scalar(select(func.count()).select_from(Department)) == 0
        assert audit_rows(s, "admin.import") == []
    done = import_upload(db, admin, "departments", "depts.csv", csv, dry_run=False)
    assert (done.added, done.changed) == (2, 0)
    again = import_upload(db, admin, "departments", "depts.csv", csv, dry_run=False)
    assert (again.added, again.unchanged) == (0, 2)
    with db.uow() as s:
        assert s.scalar(select(func.count()).select_from(Department)) == 2
        rows = audit_rows(s, "admin.import")
        assert [(r.user_id, r.detail["added"], r.detail["unchanged"]) for r in rows] == [(admin.id, 2, 0),
                                                                                         (admin.id, 0, 2)]


def test_a_users_upload_shows_activation_codes_only_when_it_imports(db):
    with db.uow() as s:
        admin = create_admin(s)
    csv = "username,name,role\nzhang,张三,operator\n".encode()
    assert import_upload(db, admin, "users", "u.csv", csv, dry_run=True).messages == []
    (message,) = import_upload(db, admin, "users", "u.csv", csv, dry_run=False).messages
    assert message.startswith("activation code for zhang: ")


@pytest.mark.parametrize(("kind", "name", "content", "reason"), [
    ("departments", "d.exe", b"x", "cannot import d.exe"),
    ("departments", "d.geojson", b"{}", "come from a CSV or XLSX table"),
    ("cameras", "c.zip", b"not a zip", "not a zip archive"),
    ("grids", "g.geojson", b'{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
     b'{"code": "G1"}, "geometry": {"type": "Polygon", "coordinates": [[[36.6, 117.0], [36.61, 117.0], '
     b'[36.61, 117.01], [36.6, 117.0]]]}}]}', "swapped"),
    ("parcels", "p.csv", b"code\n1\n", "unknown kind"),
])
def test_a_bad_upload_is_refused_with_its_reason_and_nothing_imported(db, kind, name, content, reason):
    with db.uow() as s:
        admin = create_admin(s)
    with pytest.raises(Invalid, match=reason) as caught:
        import_upload(db, admin, kind, name, content, dry_run=False)
    assert caught.value.code == "import_refused" and reason in caught.value.values["reason"]


def test_an_operator_may_not_import(db):
    with db.uow() as s:
        operator = create_admin(s, role="operator")
    with pytest.raises(Forbidden):
        import_upload(db, operator, "departments", "d.csv", b"code,name_zh,name_en\nx,X,X\n", dry_run=False)


def create_admin(session, role: str = "admin") -> User:
    from data.accounts import create_user as add_user

    user = add_user(session, f"the-{role}", role)
    session.flush()
    session.expunge(user)
    return user
