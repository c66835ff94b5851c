"""The duty rota and the shift handover (issue 17 §4): shifts in local time, who is on duty, the rota's edits
and its all-or-nothing import, notifications to a duty post reaching the person on duty, the shift log, the
handover the next shift acknowledges, its print view, and the /api/v1/duty routes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

import app as cityops
from data.accounts import create_user, issue_token
from data.models import AuditLog, DutyRota, OutboxMessage, User
from dispatch import duty, outbox
from dispatch.duty import DutyError, RotaEntryIn
from settings import Settings, get_settings
from tests.unit.test_dispatch_service import make_city

DAY = date(2026, 12, 7)
#: 2026-12-07 10:00 in Asia/Shanghai (UTC+8): the day shift of DAY.
IN_DAY_SHIFT = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


@pytest.fixture
def city(session):
    return make_city(session)


def put(session, city, post: str, username: str, shift: str = "day", day: date = DAY) -> DutyRota:
    return duty.add_rota_entry(session, city.admin, RotaEntryIn(day, shift, post, username))


# --- shifts -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("local", "day", "shift"), [
    ("2026-12-07T08:00", DAY, "day"), ("2026-12-07T19:59", DAY, "day"), ("2026-12-07T20:00", DAY, "night"),
    ("2026-12-08T07:59", DAY, "night"), ("2026-12-07T07:59", DAY - timedelta(days=1), "night"),
])
def test_a_night_shift_belongs_to_the_day_it_began_on(local, day, shift):
    moment = datetime.fromisoformat(local).replace(tzinfo=get_settings().zone)
    slot = duty.slot_at(moment)
    assert (slot.day, slot.shift.code) == (day, shift)


def test_the_shift_after_the_night_is_the_next_days_day_shift():
    night = duty.ShiftSlot(DAY, duty.shift_named("夜班"))
    assert (night.next().day, night.next().shift.code) == (DAY + timedelta(days=1), "day")
    start, end = night.span
    assert (start.hour, end.hour, end - start) == (20, 8, timedelta(hours=12))


# --- the rota -----------------------------------------------------------------------------------------


def test_who_is_on_duty_follows_the_rota(session, city):
    put(session, city, "duty_officer", "op")
    put(session, city, "duty_leader", "boss")
    put(session, city, "duty_officer", "admin", shift="night")
    assert {post: user.username for post, user in duty.on_duty(session, IN_DAY_SHIFT).items()} == {
        "duty_officer": "op", "duty_leader": "boss"}
    night = IN_DAY_SHIFT + timedelta(hours=12)
    assert {post: user.username for post, user in duty.on_duty(session, night).items()} == {"duty_officer": "admin"}
    now = duty.on_duty_now(session, IN_DAY_SHIFT)
    assert now["shift"]["shift"] == "day"
    assert [(p["post"], p["username"]) for p in now["on_duty"]] == [
        ("shift_lead", None), ("duty_officer", "op"), ("duty_leader", "boss")]


def test_a_post_taken_in_an_overlapping_shift_is_refused(session, city):
    put(session, city, "duty_officer", "op")
    with pytest.raises(DutyError) as refused:
        put(session, city, "duty_officer", "admin")
    assert (refused.value.status, refused.value.code) == (409, "rota_overlap")
    put(session, city, "shift_lead", "admin")  # another post in the same shift is fine
    assert session.scalar(select(func.count()).select_from(DutyRota)) == 2


@pytest.mark.parametrize(("entry", "code"), [
    (RotaEntryIn(DAY, "day", "duty_officer", "nobody"), "unknown_user"),
    (RotaEntryIn(DAY, "day", "janitor", "op"), "unknown_post"),
    (RotaEntryIn(DAY, "evening", "duty_officer", "op"), "unknown_shift"),
])
def test_a_bad_rota_entry_is_refused_with_the_reason(session, city, entry, code):
    with pytest.raises(DutyError) as refused:
        duty.add_rota_entry(session, city.admin, entry)
    assert (refused.value.status, refused.value.code) == (422, code)


def test_only_an_admin_edits_the_rota_and_each_edit_is_audited(session, city):
    with pytest.raises(DutyError) as refused:
        duty.add_rota_entry(session, city.operator, RotaEntryIn(DAY, "day", "duty_officer", "op"))
    assert refused.value.status == 403
    row = put(session, city, "duty_officer", "op")
    duty.remove_rota_entry(session, city.admin, row.id)
    assert duty.on_duty(session, IN_DAY_SHIFT) == {}
    actions = session.scalars(select(AuditLog.action).where(AuditLog.target == f"duty_rota:{row.id}")).all()
    assert actions == ["duty.rota.add", "duty.rota.remove"]
    with pytest.raises(DutyError) as missing:
        duty.remove_rota_entry(session, city.admin, row.id)
    assert missing.value.status == 404


# --- the import ---------------------------------------------------------------------------------------


def rota_file(tmp_path, rows: list[dict], name: str = "rota.csv"):
    path = tmp_path / name
    frame = pd.DataFrame(rows)
    if name.endswith(".csv"):
        frame.to_csv(path, index=False)
    else:
        frame.to_excel(path, index=False)
    return path


def rota_rows(db) -> list[tuple[str, str, str, str]]:
    with db.uow() as s:
        return [(r.day.isoformat(), r.shift, r.post, r.user.username)
                for r in s.scalars(select(DutyRota).order_by(DutyRota.starts_at, DutyRota.post))]


@pytest.fixture
def committed_city(db):
    with db.uow() as s:
        make_city(s)


def test_a_rota_imports_from_a_csv_and_a_reimport_replaces_by_day_shift_and_post(db, tmp_path, committed_city):
    path = rota_file(tmp_path, [
        {"date": "2026-12-07", "shift": "day", "post": "duty_officer", "username": "op"},
        {"date": "2026-12-07", "shift": "夜班", "post": "值班员", "username": "admin"},
    ])
    report = duty.import_rota(db, path)
    assert (report.imported, report.rejected) == (2, [])
    assert rota_rows(db) == [("2026-12-07", "day", "duty_officer", "op"),
                             ("2026-12-07", "night", "duty_officer", "admin")]
    again = rota_file(tmp_path, [{"日期": "2026-12-07", "班次": "白班", "岗位": "值班员", "用户名": "boss"}],
                      "again.xlsx")
    assert duty.import_rota(db, again).imported == 1
    assert rota_rows(db)[0] == ("2026-12-07", "day", "duty_officer", "boss")
    assert len(rota_rows(db)) == 2


def test_a_rota_with_bad_rows_is_refused_whole_with_every_reason(db, tmp_path, committed_city):
    path = rota_file(tmp_path, [
        {"date": "2026-12-07", "shift": "day", "post": "duty_officer", "username": "op"},
        {"date": "2026-12-07", "shift": "day", "post": "duty_officer", "username": "admin"},  # overlaps row 1
        {"date": "2026-12-07", "shift": "day", "post": "duty_leader", "username": "ghost"},
        {"date": "7/12/2026", "shift": "day", "post": "shift_lead", "username": "op"},
        {"date": "2026-12-08", "shift": "day", "post": "duty_leader", "username": "boss"},
    ])
    report = duty.import_rota(db, path)
    reasons = dict(report.rejected)
    assert sorted(reasons) == [2, 3, 4]
    assert "overlaps the day shift of 2026-12-07 for post duty_officer" in reasons[2]
    assert "no active user 'ghost'" in reasons[3] and "YYYY-MM-DD" in reasons[4]
    assert report.imported == 0 and rota_rows(db) == []
    assert any("nothing was imported" in line for line in report.lines())


def test_a_rota_row_overlapping_the_database_is_refused(db, tmp_path, committed_city, monkeypatch):
    with db.uow() as s:
        admin = s.scalar(select(User).where(User.username == "admin"))
        duty.add_rota_entry(s, admin, RotaEntryIn(DAY, "day", "duty_officer", "op"))
    # shifts are data: a 30-hour shift from the day before overlaps the stored day shift of the same post
    monkeypatch.setattr(duty, "SHIFTS", (*duty.SHIFTS, duty.Shift("long", duty.SHIFTS[0].start, timedelta(hours=30))))
    report = duty.import_rota(db, rota_file(tmp_path, [
        {"date": "2026-12-06", "shift": "long", "post": "duty_officer", "username": "admin"}]))
    assert [reason for _, reason in report.rejected] == [
        "overlaps the day shift of 2026-12-07 for post duty_officer (held by op)"]
    assert rota_rows(db) == [("2026-12-07", "day", "duty_officer", "op")]


def test_the_import_rota_command_prints_the_report(db, tmp_path, committed_city, monkeypatch):
    monkeypatch.setenv("CITYOPS_DATABASE_URL", str(db.url))
    get_settings.cache_clear()
    try:
        good = rota_file(tmp_path, [{"date": "2026-12-07", "shift": "day", "post": "duty_leader",
                                     "username": "boss"}])
        done = CliRunner().invoke(cityops.cli, ["import", "rota", str(good)])
        assert done.exit_code == 0 and done.output.splitlines()[0] == "rota: 1 imported, 0 rejected", done.output
        bad = rota_file(tmp_path, [{"date": "2026-12-08", "shift": "day", "post": "boss", "username": "boss"}],
                        "bad.csv")
        done = CliRunner().invoke(cityops.cli, ["import", "rota", str(bad)])
        assert "row 1: post: one of shift_lead, duty_officer, duty_leader" in done.output, done.output
        missing = tmp_path / "cols.csv"
        missing.write_text("date,shift,username\n2026-12-08,day,boss\n")
        done = CliRunner().invoke(cityops.cli, ["import", "rota", str(missing)])
        assert done.exit_code != 0 and "no 'post' column" in done.output
    finally:
        get_settings.cache_clear()
    assert len(rota_rows(db)) == 1


# --- notifications to a duty post -------------------------------------------------------------------


@pytest.fixture
def channel_key(monkeypatch) -> None:
    monkeypatch.setenv("CITYOPS_CHANNEL_KEY", "test-channel-key")


def channel(session, city, url: str, **target):
    return outbox.create_channel(session, outbox.ChannelSpec(url=url, name="c", **target), actor_id=city.admin.id)


def officer_event(key: str) -> outbox.Event:
    return outbox.Event(key=key, kind="alert_unacked", title="t", body="b", level="red", duty_post="duty_officer")


def queued_to(session) -> list[int]:
    return [m.channel_id for m in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]


def test_a_duty_post_message_reaches_the_person_on_duty_through_their_own_channel(session, city, channel_key):
    post = channel(session, city, "json://127.0.0.1:9/desk", duty_post="duty_officer")
    own = channel(session, city, "json://127.0.0.1:9/op", user="op")
    channel(session, city, "json://127.0.0.1:9/admin", user="admin")  # not on duty: not told
    put(session, city, "duty_officer", "op")
    assert outbox.enqueue(session, officer_event("e1"), IN_DAY_SHIFT) == 1
    assert queued_to(session) == [own.id]
    # the night shift has nobody on the post: the post's own URL hears it
    assert outbox.enqueue(session, officer_event("e2"), IN_DAY_SHIFT + timedelta(hours=12)) == 1
    assert queued_to(session) == [own.id, post.id]


def test_the_person_on_duty_without_a_channel_of_their_own_is_told_through_the_post(session, city, channel_key):
    post = channel(session, city, "json://127.0.0.1:9/desk", duty_post="duty_officer")
    put(session, city, "duty_officer", "boss")
    assert outbox.enqueue(session, officer_event("e1"), IN_DAY_SHIFT) == 1
    assert queued_to(session) == [post.id]


# --- the shift log and the handover -------------------------------------------------------------------


def test_a_handover_carries_the_shift_log_and_is_acknowledged_by_the_next_shift(session, city):
    put(session, city, "duty_officer", "op")
    put(session, city, "duty_officer", "boss", shift="night")  # a leader may hold a post, but not write the log
    put(session, city, "shift_lead", "admin", shift="night")
    duty.add_log_entry(session, city.operator, "event", "gas smell reported at the market", IN_DAY_SHIFT)
    duty.add_log_entry(session, city.operator, "open_matter", "valve 7 to be checked", IN_DAY_SHIFT)
    later = IN_DAY_SHIFT + timedelta(hours=7)
    handover = duty.hand_over(session, city.operator, "quiet day; see open matters", later)
    with pytest.raises(DutyError) as again:
        duty.hand_over(session, city.operator, "twice", later)
    assert again.value.status == 409
    with pytest.raises(DutyError) as own:
        duty.acknowledge_handover(session, city.operator, handover.id, later)
    assert (own.value.status, own.value.code) == (403, "own_handover")
    stranger = create_user(session, "op2", "operator")
    session.flush()
    with pytest.raises(DutyError) as outsider:
        duty.acknowledge_handover(session, stranger, handover.id, later)
    assert (outsider.value.status, outsider.value.code) == (403, "not_next_shift")
    taken = duty.acknowledge_handover(session, city.admin, handover.id, later + timedelta(hours=1))
    assert (taken.acked_by_id, taken.acked_at) == (city.admin.id, later + timedelta(hours=1))
    with pytest.raises(DutyError) as twice:
        duty.acknowledge_handover(session, city.admin, handover.id, later)
    assert twice.value.status == 409
    record = duty.handover_to_dict(session, taken)
    assert [e["kind"] for e in record["log"]] == ["event", "open_matter"]
    assert [e["text"] for e in record["open_matters"]] == ["valve 7 to be checked"]
    assert (record["shift"], record["acked_by"], [c["username"] for c in record["crew"]]) == ("day", "admin", ["op"])


@pytest.mark.parametrize(("kind", "text", "code"), [("gossip", "x", "invalid_kind"), ("event", "  ", "invalid_text"),
                                                    ("event", "x" * (duty.TEXT_MAX + 1), "invalid_text")])
def test_a_bad_log_entry_is_refused(session, city, kind, text, code):
    with pytest.raises(DutyError) as refused:
        duty.add_log_entry(session, city.operator, kind, text, IN_DAY_SHIFT)
    assert (refused.value.status, refused.value.code) == (422, code)


def test_a_leader_neither_writes_the_log_nor_hands_over(session, city):
    for write in (lambda: duty.add_log_entry(session, city.leader, "event", "x", IN_DAY_SHIFT),
                  lambda: duty.hand_over(session, city.leader, "x", IN_DAY_SHIFT)):
        with pytest.raises(DutyError) as refused:
            write()
        assert refused.value.status == 403


# --- the API ------------------------------------------------------------------------------------------


@pytest.fixture
def api(db):
    from app import create_app

    with db.uow() as s:
        made = make_city(s)
        tokens = {name: issue_token(s, user) for name, user in
                  (("admin", made.admin), ("op", made.operator), ("boss", made.leader), ("w1", made.worker1))}
    server, _ = create_app(Settings(database_url=str(db.url), secret_key="duty"), db)
    server.testing = True
    return server.test_client(), {name: {"Authorization": f"Bearer {token}"} for name, token in tokens.items()}


def test_the_duty_routes_rota_log_handover_ack_and_print(api):
    client, auth = api
    slot = duty.slot_at(datetime.now(UTC))
    entry = {"date": slot.day.isoformat(), "shift": slot.shift.code, "post": "duty_officer", "username": "op"}
    assert client.post("/api/v1/duty/rota", json=entry, headers=auth["op"]).status_code == 403
    made = client.post("/api/v1/duty/rota", json=entry, headers=auth["admin"])
    assert made.status_code == 201, made.json
    clash = client.post("/api/v1/duty/rota", json={**entry, "username": "admin"}, headers=auth["admin"])
    assert clash.status_code == 409 and "overlaps" in clash.json["error"]["message"]
    following = slot.next()
    nxt = {"date": following.day.isoformat(), "shift": following.shift.code, "post": "shift_lead",
           "username": "admin"}
    assert client.post("/api/v1/duty/rota", json=nxt, headers=auth["admin"]).status_code == 201

    now = client.get("/api/v1/duty/now", headers=auth["w1"])
    assert now.status_code == 200
    assert {p["post"]: p["username"] for p in now.json["on_duty"]}["duty_officer"] == "op"
    week = client.get(f"/api/v1/duty/rota?from={slot.day.isoformat()}", headers=auth["boss"])
    assert [(r["post"], r["username"]) for r in week.json] == [("duty_officer", "op"), ("shift_lead", "admin")]
    assert client.get("/api/v1/duty/rota?from=tomorrow", headers=auth["boss"]).status_code == 422
    assert client.get("/api/v1/duty/rota", headers=auth["w1"]).status_code == 403

    log = {"kind": "open_matter", "text": "<b>valve 7</b> to be checked"}
    assert client.post("/api/v1/duty/log", json=log, headers=auth["boss"]).status_code == 403
    assert client.post("/api/v1/duty/log", json={**log, "kind": "rumour"}, headers=auth["op"]).status_code == 422
    assert client.post("/api/v1/duty/log", json=log, headers=auth["op"]).status_code == 201
    assert [e["text"] for e in client.get("/api/v1/duty/log", headers=auth["boss"]).json] == [log["text"]]

    handed = client.post("/api/v1/duty/handover", json={"note": "all quiet"}, headers=auth["op"])
    assert handed.status_code == 201 and handed.json["open_matters"][0]["text"] == log["text"]
    hid = handed.json["id"]
    assert client.post(f"/api/v1/duty/handover/{hid}/ack", headers=auth["op"]).status_code == 403
    acked = client.post(f"/api/v1/duty/handover/{hid}/ack", headers=auth["admin"])
    assert acked.status_code == 200 and acked.json["acked_by"] == "admin" and acked.json["acked_at"]
    assert client.post("/api/v1/duty/handover/999/ack", headers=auth["admin"]).status_code == 404

    page = client.get(f"/api/v1/duty/handover/{hid}/print", headers=auth["boss"])
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "&lt;b&gt;valve 7&lt;/b&gt;" in html and "<b>valve 7" not in html and "all quiet" in html
    assert client.get("/api/v1/duty/handover/999/print", headers=auth["boss"]).status_code == 404
    assert [h["id"] for h in client.get("/api/v1/duty/handover", headers=auth["boss"]).json] == [hid]

    removed = client.delete(f"/api/v1/duty/rota/{made.json['id']}", headers=auth["admin"])
    assert removed.status_code == 200
    assert client.delete(f"/api/v1/duty/rota/{made.json['id']}", headers=auth["admin"]).status_code == 404
