"""The hotline seat after the call, as Dash calls its callbacks: the reply to the caller, the follow-up
call (回访) with a dissatisfied caller's order reopened, and the chase ledger's chase button."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from callbacks import hotline
from data.models import Doorplate, Incident, utcnow
from dispatch.hotline import HotlineCall, take_call
from dispatch.service import apply_action
from i18n import t
from layouts import ids
from tests.unit import test_pages as pages

city, server, callback_context = pages.city, pages.server, pages.callback_context
signed_in, stored, clicked = pages.signed_in, pages.stored, pages.clicked
with_testid, texts, ids_in, cells = pages.with_testid, pages.texts, pages.ids_in, pages.cells


def transferred(db, city, *, close: bool) -> str:
    """The code of a transferred call, worked to its closing when ``close``."""
    with db.uow() as s:
        s.add(Doorplate(code="DP-1", address="和平路 1 号", lon=pages.G1_POINT[0], lat=pages.G1_POINT[1]))
        s.flush()
        incident = take_call(s, HotlineCall(caller="钱", phone="13512345678", content="路灯坏了", category="S0101",
                                            doorplate="DP-1"), actor=city.operator)
        for action in ("start", "resolve", "close") if close else ():
            incident = apply_action(s, incident.id, action, version=incident.version, actor=city.admin)
        return incident.code


def by_code(db, code: str) -> Incident:
    with db.uow() as s:
        incident = s.scalar(select(Incident).where(Incident.code == code))
        s.expunge(incident)
        return incident


def test_the_seat_replies_to_the_caller_and_records_the_follow_up_call(server, db, city):
    code = transferred(db, city, close=True)
    with signed_in(server, city.operator):
        replies, choices, followups, ledger = hotline.show_aftercare(0, True)
        assert [o["value"] for o in replies] == [code] and [o["value"] for o in choices] == [code]
        [row] = with_testid(followups, "hotline-followup-row")
        assert "135****5678" in " ".join(cells(row)) and "13512345678" not in " ".join(texts(followups))
        assert texts(ledger) == [t("common.none", "zh")]
        refused = hotline.submit_reply(1, None, "已修好", 0)
        assert texts(refused[0]) == [t("error.order_required", "zh")] and refused[1] is hotline.no_update
        message, result, text = hotline.submit_reply(1, code, "路灯已修好", 0)
        assert "msg-ok" in message.className and (result, text) == (1, "")
        assert hotline.show_aftercare(1, True)[0] == []  # replied: no longer awaiting
        no_reason = hotline.submit_followup(1, code, "dissatisfied", "", ["reopen"], 1)
        assert texts(no_reason[0]) == [t("error.reason_required", "zh")]
        message, result, reason = hotline.submit_followup(1, code, "dissatisfied", "还是不亮", ["reopen"], 1)
        assert "msg-ok" in message.className and (result, reason) == (2, "")
    incident = by_code(db, code)
    assert (incident.public_reply, incident.satisfaction, incident.state, incident.rework_count) == (
        "路灯已修好", "dissatisfied", "dispatched", 1)


def test_an_unreached_caller_gives_no_rating(server, db, city):
    code = transferred(db, city, close=True)
    with signed_in(server, city.operator):
        assert texts(hotline.submit_followup(1, code, None, None, [], 0)[0]) == [t("error.result_required", "zh")]
        assert "msg-ok" in hotline.submit_followup(1, code, "not_reached", None, [], 0)[0].className
        assert hotline.show_aftercare(1, True)[1] == []
    assert by_code(db, code).satisfaction is None


def test_the_chase_ledger_lists_an_overdue_order_and_chases_it(server, db, city):
    code = transferred(db, city, close=False)
    with db.uow() as s:
        incident = s.scalar(select(Incident).where(Incident.code == code))
        incident.reported_at, incident.handle_deadline = utcnow() - timedelta(days=2), utcnow() - timedelta(hours=1)
    with signed_in(server, city.operator):
        ledger = hotline.show_aftercare(0, True)[3]
        [row] = with_testid(ledger, "hotline-chase-row")
        assert code in cells(row) and t("hotline.chase.overdue", "zh") in cells(row)
        assert "hotline-chase-button" in ids_in(row)
        clicked({"type": ids.HOTLINE_CHASE, "code": code})
        message, result = hotline.chase_order([1], 0)
        assert "msg-ok" in message.className and result == 1
        [row] = with_testid(hotline.show_aftercare(1, True)[3], "hotline-chase-row")
        assert cells(row)[5] == "1"  # chased once
    _, history, _ = stored(db, by_code(db, code).id)
    assert history[-1].action == "chase"


def test_the_seat_sees_this_months_hotline_figures_as_tiles(server, db, city):
    transferred(db, city, close=True)
    with signed_in(server, city.operator):
        tiles = hotline.show_figures(0, True)
    shown = {getattr(tile, "data-testid"): texts(tile) for tile in tiles}
    assert set(shown) == {f"hotline-kpi-{key}" for key in ("orders", "direct", "transferred", "direct_rate",
                                                          "satisfaction_rate", "mean_handle_workdays",
                                                          "on_time_reply_rate", "repeat_calls")}
    assert shown["hotline-kpi-orders"] == [t("kpi.hotline.orders", "zh"), "1"]
    assert shown["hotline-kpi-direct_rate"] == [t("kpi.hotline.direct_rate", "zh"), "0.0%"]
    assert shown["hotline-kpi-satisfaction_rate"][1] == "—"  # no follow-up call has reached anyone yet
