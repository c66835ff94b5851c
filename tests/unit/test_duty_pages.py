# ruff: noqa: F811  (pytest fixtures imported from test_pages are parameters here)
"""The duty rota on the pages (issue 17 §4): the /admin panel lists a week, adds and removes entries (refusals
say why; audited by the service), and the big screen's line shows who is on duty now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dash._callback_context import context_value
from dash._utils import AttributeDict
from sqlalchemy import select

from api.auth import page_of_component
from callbacks import admin_duty
from callbacks.bigscreen import panels
from data.models import AuditLog, DutyRota
from dispatch import duty
from layouts import admin, ids
from tests.unit.test_pages import callback_context, city, clicked, server, signed_in, texts, with_testid  # noqa: F401


def press_add() -> None:
    context_value.set(AttributeDict(triggered_inputs=[{"prop_id": f"{ids.ADMIN_DUTY_ADD}.n_clicks", "value": 1}]))


def entries(db) -> list[tuple[str, str, str]]:
    with db.uow() as s:
        return [(r.shift, r.post, r.user.username) for r in s.scalars(select(DutyRota).order_by(DutyRota.id))]


def test_the_panel_and_its_outputs_belong_to_the_admin_page(server, city):
    outputs = [ids.ADMIN_DUTY_LIST, ids.ADMIN_DUTY_SHIFT, ids.ADMIN_DUTY_POST, ids.ADMIN_DUTY_MESSAGE,
               ids.ADMIN_DUTY_CHANGED]
    assert {page_of_component(c) for c in outputs} == {"admin"}
    assert page_of_component(ids.BIGSCREEN_DUTY) == "bigscreen"
    with signed_in(server, city.admin, lang="en"):
        assert with_testid(admin.layout(), "admin-duty-section")


def test_an_admin_adds_and_removes_a_rota_entry_in_the_panel(server, db, city):
    today = duty.slot_at(datetime.now(UTC)).day.isoformat()
    with signed_in(server, city.admin, lang="en"):
        press_add()
        message, changed = admin_duty.edit_rota(1, [], today, "day", "duty_officer", "op", 0)
        assert texts(message) == ["Added to the rota."] and changed == 1
        press_add()
        message, changed = admin_duty.edit_rota(2, [], today, "day", "duty_officer", "root", 1)
        assert "overlaps the day shift" in texts(message)[0] and changed == 1
        press_add()
        message, _ = admin_duty.edit_rota(3, [], today, "day", "duty_officer", "nobody", 1)
        assert "no active user 'nobody'" in texts(message)[0]
        table, shifts, posts = admin_duty.show_rota(today, 1)
        assert [o["value"] for o in shifts] == ["day", "night"] and len(posts) == 3
        (row,) = with_testid(table, "admin-duty-row")
        assert texts(row)[:4] == [today, "Day shift", "Duty officer", "值班员甲 (op)"]
        with db.uow() as s:
            entry_id = s.scalar(select(DutyRota.id))
        clicked({"type": ids.ADMIN_DUTY_REMOVE, "id": entry_id})
        message, changed = admin_duty.edit_rota(3, [1], today, "day", "duty_officer", "nobody", 1)
        assert texts(message) == ["Removed from the rota."] and changed == 2
    assert entries(db) == []
    with db.uow() as s:
        actions = s.scalars(select(AuditLog.action).where(AuditLog.target == f"duty_rota:{entry_id}")).all()
    assert actions == ["duty.rota.add", "duty.rota.remove"]


def test_an_operator_cannot_edit_the_rota_through_the_panel(server, db, city):
    with signed_in(server, city.operator, lang="en"):
        press_add()
        message, changed = admin_duty.edit_rota(1, [], "2026-12-07", "day", "duty_officer", "op", 0)
    assert "may not edit the duty rota" in texts(message)[0] and changed == 0
    assert entries(db) == []


def test_the_big_screen_line_shows_who_is_on_duty_now(server, db, city):
    slot = duty.slot_at(datetime.now(UTC))
    with db.uow() as s:
        duty.add_rota_entry(s, None, duty.RotaEntryIn(slot.day, slot.shift.code, "duty_officer", "op"))
        following = slot.next()
        duty.add_rota_entry(s, None, duty.RotaEntryIn(following.day, following.shift.code, "duty_leader", "root"))
    with signed_in(server, city.operator, lang="en"):
        line = panels.show_duty(0)
    shift = "Day shift" if slot.shift.code == "day" else "Night shift"
    assert line == f"On duty ({shift}): Shift lead vacant · Duty officer 值班员甲 · Leader on duty vacant"
    assert slot.span[1] - slot.span[0] == timedelta(hours=12)
