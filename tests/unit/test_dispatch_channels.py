"""The channels and extras of the dispatch loop on a real (SQLite) database: photos, duplicates and
merging, routing fallback, working hours and per-severity limits, notifications, the hotline and
video detections."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from PIL import Image
from sqlalchemy import select

from data.models import Attachment, Camera, Doorplate, Grid, Incident, VideoPlatform
from dispatch import notifications, photos, routing
from dispatch.categories import CategoryChange, save_category
from dispatch.hotline import HotlineCall, search_doorplates, take_call
from dispatch.kpi import kpi_snapshot
from dispatch.service import (
    ActionNotAllowed,
    InvalidInput,
    apply_action,
    create_incident,
    find_duplicates,
    incident_to_dict,
    mask_phone,
    rate_incident,
)
from dispatch.video_ai.detections import record_detection
from dispatch.working_hours import CalendarError, WorkingCalendar, load_calendar, save_week, set_day
from settings import get_settings
from tests.unit.test_dispatch_service import G1_POINT, G2_POINT, OUTSIDE, make_city

ZONE = get_settings().zone


def jpeg(width: int = 64, height: int = 48, *, gps: bool = False, colour=(200, 30, 30)) -> bytes:
    """A real JPEG; with ``gps`` it carries EXIF with a GPS position and a camera model."""
    image = Image.new("RGB", (width, height), colour)
    out = io.BytesIO()
    exif = Image.Exif()
    if gps:
        exif[0x0110] = "PhoneCam 9"  # Model
        exif[0x8825] = {1: "N", 2: (36.0, 36.0, 18.0), 3: "E", 4: (117.0, 0.0, 18.0)}  # GPSInfo
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


@pytest.fixture
def city(session):
    return make_city(session)


@pytest.fixture
def folder(tmp_path):
    return tmp_path / "uploads"


def _new(session, actor, *, category="S0101", point=G1_POINT, source="patrol", **kwargs) -> Incident:
    return create_incident(session, category_code=category, source=source, title="rubbish", lon=point[0],
                           lat=point[1], actor=actor, **kwargs)


def _act(session, incident, action, actor, **kwargs) -> Incident:
    return apply_action(session, incident.id, action, version=incident.version, actor=actor, **kwargs)


# --- photos -------------------------------------------------------------------------------------


def test_a_photo_is_re_encoded_without_its_exif_and_stored_under_a_random_name(session, city, folder):
    incident = _new(session, city.worker1)
    original = jpeg(gps=True)
    assert b"PhoneCam 9" in original
    attachment = photos.store_photo(session, original, incident_id=incident.id, uploaded_by=city.worker1.id,
                                    folder=folder)
    stored = photos.photo_file(attachment, folder=folder).read_bytes()
    assert b"PhoneCam 9" not in stored and b"Exif" not in stored
    assert Image.open(io.BytesIO(stored)).size == (64, 48)
    assert attachment.content_type == "image/jpeg" and attachment.stored_name.endswith(".jpg")
    assert len(attachment.stored_name.split("/")[-1]) == 36  # 32 hex characters of randomness + ".jpg"
    thumb = Image.open(photos.photo_file(attachment, thumbnail=True, folder=folder))
    assert thumb.format == "JPEG" and max(thumb.size) <= photos.THUMB_SIDE


def test_large_photos_are_scaled_down_and_thumbnails_are_small(session, city, folder):
    incident = _new(session, city.worker1)
    attachment = photos.store_photo(session, jpeg(3000, 1500), incident_id=incident.id, uploaded_by=None,
                                    folder=folder)
    assert (attachment.width, attachment.height) == (photos.MAX_SIDE, photos.MAX_SIDE // 2)
    assert Image.open(photos.photo_file(attachment, thumbnail=True, folder=folder)).size == (320, 160)


@pytest.mark.parametrize(("data", "code", "status"), [
    (b"%PDF-1.7 not a photo", "photo_type", 415),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "photo_type", 415),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 100, "photo_corrupt", 422),  # JPEG magic, then garbage
    (b"", "photo_empty", 422),
    (b"\xff\xd8\xff" + b"\x00" * photos.MAX_BYTES, "photo_too_large", 413),
])
def test_bad_uploads_are_refused_with_their_reason_and_nothing_is_stored(session, city, folder, data, code, status):
    incident = _new(session, city.worker1)
    with pytest.raises(photos.PhotoRejected) as refused:
        photos.store_photo(session, data, incident_id=incident.id, uploaded_by=None, folder=folder)
    assert (refused.value.code, refused.value.status) == (code, status)
    assert not folder.exists() or not any(folder.rglob("*.*"))
    assert session.scalar(select(Attachment)) is None


def test_png_and_webp_keep_their_format(session, city, folder):
    incident = _new(session, city.worker1)
    for fmt, content_type in (("PNG", "image/png"), ("WEBP", "image/webp")):
        out = io.BytesIO()
        Image.new("RGBA", (20, 20), (0, 0, 255, 128)).save(out, fmt)
        attachment = photos.store_photo(session, out.getvalue(), incident_id=incident.id, uploaded_by=None,
                                        folder=folder)
        assert attachment.content_type == content_type
        assert Image.open(photos.photo_file(attachment, folder=folder)).format == fmt


def test_a_resolve_carries_the_workers_own_new_photo_in_its_history(session, city, folder):
    incident = _new(session, city.operator)
    for action in ("file", "dispatch", "start"):
        incident = _act(session, incident, action, city.operator if action != "start" else city.worker1)
    mine = photos.store_photo(session, jpeg(), incident_id=incident.id, uploaded_by=city.worker1.id, folder=folder)
    theirs = photos.store_photo(session, jpeg(), incident_id=incident.id, uploaded_by=city.operator.id, folder=folder)
    with pytest.raises(InvalidInput) as refused:
        _act(session, incident, "resolve", city.worker1, attachment_ids=[theirs.id])
    assert refused.value.code == "invalid_attachment"
    incident = _act(session, incident, "resolve", city.worker1, note="cleared", attachment_ids=[mine.id])
    last = incident.history[-1]
    assert last.data["photos"] == [mine.id] and mine.history_id == last.id
    shown = incident_to_dict(incident)
    assert [p["id"] for p in shown["photos"]] == [mine.id, theirs.id]
    assert shown["photos"][0]["thumbnail_url"] == f"/api/v1/attachments/{mine.id}/thumbnail"


# --- duplicates and merging ----------------------------------------------------------------------


def test_a_new_report_near_an_open_one_of_the_same_category_is_proposed_as_its_duplicate(session, city):
    reported = datetime(2026, 11, 22, 8, tzinfo=UTC)
    first = _new(session, city.worker1, reported_at=reported)
    near = (G1_POINT[0] + 0.0003, G1_POINT[1])  # ~27 m east
    second = _new(session, city.worker1, point=near, reported_at=reported + timedelta(hours=3))
    far = _new(session, city.worker1, point=(G1_POINT[0] + 0.001, G1_POINT[1]), reported_at=reported)  # ~90 m
    other_category = _new(session, city.worker1, category="L01", point=near, reported_at=reported)
    later = _new(session, city.worker1, point=near, reported_at=reported + timedelta(hours=30))
    assert second.duplicate_of_id == first.id
    assert far.duplicate_of_id is None and other_category.duplicate_of_id is None
    assert later.duplicate_of_id is None  # more than 24 h after every open one
    found = find_duplicates(session, "S0101", *near, reported, exclude_id=second.id)
    assert [(i.id, round(d)) for i, d in found] == [(first.id, 27)]
    assert "duplicate_of" in second.history[0].data


def test_merging_keeps_both_histories_and_the_kpis_count_the_case_once(session, city):
    # KPIs count "as of min(to, now)" (DESIGN §7): the window reaches past the wall-clock filing.
    reported = datetime.now(UTC) - timedelta(hours=2)
    original = _act(session, _new(session, city.worker1, reported_at=reported), "file", city.operator)
    duplicate = _new(session, city.worker2, point=(G1_POINT[0], G1_POINT[1] + 0.0002),
                     reported_at=reported + timedelta(minutes=5))
    assert duplicate.duplicate_of_id == original.id
    start, end = reported - timedelta(hours=1), reported + timedelta(hours=3)
    assert kpi_snapshot(session, start, end, now=end)["reported"] == 2
    merged = _act(session, duplicate, "merge", city.operator, target_id=original.id, note="同一堆垃圾")
    assert (merged.state, merged.merged_into_id) == ("rejected", original.id)
    assert [h.action for h in merged.history] == ["create", "merge"]
    session.refresh(original)
    assert [h.action for h in original.history] == ["create", "file", "merge"]
    assert original.history[-1].data == {"duplicate_id": duplicate.id, "duplicate_code": duplicate.code}
    assert original.version == 2  # the original's own state and version are untouched
    kpi = kpi_snapshot(session, start, end, now=end)
    assert (kpi["reported"], kpi["filed"], kpi["by_source"]["patrol"]) == (1, 1, 1)
    with pytest.raises(InvalidInput):  # a merged duplicate is never an original
        _act(session, _new(session, city.worker1, reported_at=reported), "merge", city.operator,
             target_id=duplicate.id)


# --- routing fallback ----------------------------------------------------------------------------


def test_a_grid_without_a_worker_falls_back_to_the_community_then_the_street(session, city):
    from tests.unit.test_dispatch_service import _area, _grid

    g1, g2 = session.get(Grid, city.g1.id), session.get(Grid, city.g2.id)
    g2.worker_id = None
    assert routing.worker_of_grid(session, g2.id) == city.worker1.id  # the community's other worker
    street = g1.community.parent
    import shapely

    other_community = _area(session, "D1S1C2", "community", street, shapely.box(117.02, 36.6, 117.03, 36.61))
    lonely = _grid(session, "G3", other_community, shapely.box(117.02, 36.6, 117.03, 36.61))
    assert routing.worker_of_grid(session, lonely.id) == city.worker1.id  # the street's
    g1.worker_id = None
    assert routing.worker_of_grid(session, lonely.id) is None
    incident = _new(session, city.operator, point=(117.025, 36.605))
    assert incident.grid_id == lonely.id and incident.assignee_id is None


def test_the_operator_overrides_the_routed_assignee_on_dispatch(session, city):
    incident = _act(session, _new(session, city.operator), "file", city.operator)
    assert incident.assignee_id == city.worker1.id
    incident = _act(session, incident, "dispatch", city.operator, assignee="w2")
    assert incident.assignee_id == city.worker2.id and incident.history[-1].data["assignee"] == "w2"


def test_people_may_not_report_outside_the_city(session, city):
    with pytest.raises(InvalidInput) as refused:
        _new(session, city.worker1, point=OUTSIDE, inside_city=True)
    assert refused.value.code == "outside_city"


# --- working hours, holidays and per-severity limits --------------------------------------------


def _local(*args: int) -> datetime:
    return datetime(*args, tzinfo=ZONE)


DEFAULT_WEEK_FOR_TESTS = {d: ((9 * 60, 12 * 60), (13 * 60, 17 * 60)) for d in range(5)}  # 7 h a day


def test_working_hours_skip_lunch_nights_weekends_and_holidays():
    calendar = WorkingCalendar(DEFAULT_WEEK_FOR_TESTS, {date(2026, 10, 1): False})
    friday = _local(2026, 11, 20, 11, 0)  # a Friday
    assert calendar.add_hours(friday, 1) == _local(2026, 11, 20, 12, 0)
    assert calendar.add_hours(friday, 2) == _local(2026, 11, 20, 14, 0)  # 11–12, lunch, then 13–14
    assert calendar.add_hours(friday, 6) == _local(2026, 11, 23, 10, 0)  # Friday 6 h... Monday 1 h
    assert calendar.add_hours(_local(2026, 11, 21, 20, 0), 2) == _local(2026, 11, 23, 11, 0)  # Saturday night
    holiday_eve = _local(2026, 9, 30, 16, 0)  # Wednesday; Thursday 1 October is a holiday
    assert calendar.add_hours(holiday_eve, 2) == _local(2026, 10, 2, 10, 0)
    utc_start = friday.astimezone(UTC)
    assert calendar.add_hours(utc_start, 1).tzinfo == UTC


def test_a_make_up_working_day_counts_and_bad_weeks_are_refused():
    saturday = date(2026, 11, 21)
    calendar = WorkingCalendar(DEFAULT_WEEK_FOR_TESTS, {saturday: True})
    assert calendar.add_hours(_local(2026, 11, 21, 8, 0), 2) == _local(2026, 11, 21, 11, 0)
    with pytest.raises(CalendarError):
        WorkingCalendar({0: ((600, 700), (650, 800))})
    with pytest.raises(CalendarError):
        WorkingCalendar({})


def test_a_working_hours_category_and_a_severity_limit_set_the_deadlines(session, city):
    save_week(session, DEFAULT_WEEK_FOR_TESTS)
    set_day(session, date(2026, 11, 23), workday=False, name="test holiday")  # Monday
    assert load_calendar(session).periods_on(date(2026, 11, 23)) == ()
    save_category(session, CategoryChange(code="S0101", name_zh="暴露垃圾", name_en="Exposed litter", kind="event",
                                          department="roads", handle_hours=6, close_hours=14, working_hours=True,
                                          limits={"urgent": (1, 2)}), create=False)
    friday = _local(2026, 11, 20, 11, 0)
    normal = _new(session, city.worker1, reported_at=friday)
    assert normal.handle_deadline == _local(2026, 11, 24, 10, 0)  # Monday is a holiday
    urgent = _new(session, city.worker1, point=G2_POINT, reported_at=friday, severity="urgent")
    assert (urgent.handle_deadline, urgent.close_deadline) == (_local(2026, 11, 20, 12), _local(2026, 11, 20, 14))
    with pytest.raises(InvalidInput):
        _new(session, city.worker1, severity="apocalyptic")


def test_category_changes_are_validated_as_a_whole(session, city):
    change = CategoryChange(code="S0101", name_zh="x", name_en="x", kind="event", department="roads",
                            handle_hours=6, close_hours=14, limits={"urgent": (5, 2)})
    with pytest.raises(InvalidInput) as refused:
        save_category(session, change, create=False)
    assert refused.value.code == "invalid_hours"
    with pytest.raises(InvalidInput):
        save_category(session, CategoryChange(code="S0101", name_zh="x", name_en="x", kind="event",
                                              department="nowhere", handle_hours=1, close_hours=2), create=False)


# --- notifications -------------------------------------------------------------------------------


def test_escalation_notifies_the_department_and_a_postponement_request_the_desk(session, city):
    incident = _act(session, _new(session, city.operator), "file", city.operator)
    incident = _act(session, incident, "dispatch", city.operator)
    incident = _act(session, incident, "escalate", city.leader, note="抓紧")
    assert notifications.unread_count(session, city.roads_handler) == 1
    assert notifications.unread_count(session, city.gas_handler) == 0
    assert notifications.unread_count(session, city.leader) == 1
    assert notifications.unread_count(session, city.worker1) == 0
    incident = _act(session, incident, "postpone", city.roads_handler, hours=12, note="等材料")
    assert notifications.unread_count(session, city.roads_handler) == 1  # the request goes to the desk
    desk = notifications.latest(session, city.operator)
    assert [n.kind for n in desk] == ["postpone_request", "escalate"]
    deadline = incident.handle_deadline
    incident = _act(session, incident, "postpone", city.operator)  # approves the pending 12 h
    assert incident.handle_deadline == deadline + timedelta(hours=12)
    assert notifications.mark_read(session, city.roads_handler) == 1
    assert notifications.unread_count(session, city.roads_handler) == 0
    assert notifications.unread_count(session, city.operator) == 2  # the desk's copies are its own


# --- the hotline --------------------------------------------------------------------------------


def _doorplate(session) -> Doorplate:
    plate = Doorplate(code="DP-0001", address="示范路 12 号", lon=G1_POINT[0], lat=G1_POINT[1],
                      grid_id=city_grid(session))
    session.add(plate)
    session.flush()
    return plate


def city_grid(session) -> int:
    return session.scalar(select(Grid.id).where(Grid.code == "G1"))


def test_doorplates_are_found_by_part_of_their_address_or_code(session, city):
    _doorplate(session)
    assert [p.code for p in search_doorplates(session, "示范路")] == ["DP-0001"]
    assert [p.code for p in search_doorplates(session, "0001")] == ["DP-0001"]
    assert search_doorplates(session, "示") == []  # too short to search
    assert search_doorplates(session, "%") == []  # a LIKE wildcard is a plain character


def test_a_call_answered_directly_is_filed_and_closed_at_once_and_rated_once(session, city):
    call = HotlineCall(caller="张先生", phone="13812341234", content="咨询垃圾清运时间", category="S0101",
                       mode="direct", answer="每日 6 点、18 点清运")
    incident = take_call(session, call, actor=city.operator)
    assert (incident.state, incident.source, incident.hotline_mode) == ("closed", "hotline", "direct")
    assert [h.action for h in incident.history] == ["create", "file", "close"]
    assert incident.history[-1].note == "每日 6 点、18 点清运"
    assert incident.caller_phone == "13812341234"
    assert incident_to_dict(incident)["caller"] == {"name": "张先生", "phone": "138****1234"}
    rated = rate_incident(session, incident.id, "basically_satisfied", actor=city.operator)
    assert rated.satisfaction == "basically_satisfied"
    with pytest.raises(ActionNotAllowed) as again:
        rate_incident(session, incident.id, "satisfied", actor=city.operator)
    assert again.value.code == "already_rated"
    kpi = kpi_snapshot(session, incident.reported_at - timedelta(hours=1), incident.reported_at + timedelta(hours=1))
    assert (kpi["filed"], kpi["closed"], kpi["dispatched"], kpi["by_source"]["hotline"]) == (1, 1, 0, 1)


def test_a_transferred_call_is_filed_and_dispatched_to_the_categorys_department(session, city):
    plate = _doorplate(session)
    call = HotlineCall(caller="李女士", phone="0531-8888 1234", content="楼下垃圾三天没人清", category="S0101",
                       doorplate=plate.code)
    incident = take_call(session, call, actor=city.operator)
    assert (incident.state, incident.department_id, incident.address) == ("dispatched", city.roads.id, plate.address)
    assert (incident.lon, incident.lat, incident.grid_id) == (plate.lon, plate.lat, city.g1.id)
    with pytest.raises(ActionNotAllowed):  # only closed orders are rated
        rate_incident(session, incident.id, "satisfied", actor=city.operator)


@pytest.mark.parametrize(("change", "code"), [
    ({"phone": "call me"}, "invalid_phone"),
    ({"caller": " "}, "caller_required"),
    ({"content": ""}, "content_required"),
    ({"mode": "later"}, "invalid_mode"),
    ({"doorplate": "DP-NOPE"}, "unknown_doorplate"),
    ({"doorplate": None}, "location_required"),
    ({"mode": "direct", "doorplate": None, "answer": ""}, "note_required"),
    ({"category": "Z99"}, "unknown_category"),
])
def test_bad_calls_are_refused_and_write_nothing(db, change, code):
    with db.uow() as s:
        city = make_city(s)
        _doorplate(s)
    fields = {"caller": "王", "phone": "13800000000", "content": "路灯不亮", "category": "S0101",
              "doorplate": "DP-0001", **change}
    with pytest.raises((InvalidInput, ActionNotAllowed)) as refused, db.uow() as s:
        take_call(s, HotlineCall(**fields), actor=city.operator)
    assert refused.value.code == code
    with db.uow() as s:
        assert s.scalar(select(Incident)) is None


def test_phones_are_masked_in_the_middle():
    assert mask_phone("13812341234") == "138****1234"
    assert mask_phone("053188881234") == "053*****1234"
    assert mask_phone("1234") == "****" and mask_phone(None) is None


# --- video detections ---------------------------------------------------------------------------


def _camera(session, algorithms) -> Camera:
    platform = VideoPlatform(code="VP1", name="平台")
    session.add(platform)
    session.flush()
    camera = Camera(code="CAM-1", name="示范路口", platform_id=platform.id, type="gun", algorithms=algorithms,
                    lon=G2_POINT[0], lat=G2_POINT[1])
    session.add(camera)
    session.flush()
    return camera


def test_a_detection_becomes_a_video_incident_at_the_camera_with_its_snapshot(session, city, folder):
    from data.catalog import load_catalog

    load_catalog(session)
    _camera(session, ["waterlogging", "river_litter"])
    incident = record_detection(session, camera_code="CAM-1", kind="waterlogging", confidence=0.93,
                                snapshot=jpeg(), actor=city.operator, folder=folder).incident
    assert (incident.source, incident.category_code, incident.state) == ("video", "V01", "reported")
    assert (incident.lon, incident.lat, incident.grid_id) == (G2_POINT[0], G2_POINT[1], city.g2.id)
    snapshot = session.scalar(select(Attachment).where(Attachment.incident_id == incident.id))
    assert snapshot.kind == "snapshot" and photos.photo_file(snapshot, folder=folder).is_file()
    with pytest.raises(InvalidInput) as refused:
        record_detection(session, camera_code="CAM-1", kind="construction_safety", actor=city.operator)
    assert refused.value.code == "algorithm_not_enabled"
    for kwargs, code in (({"camera_code": "CAM-404", "kind": "waterlogging"}, "unknown_camera"),
                         ({"camera_code": "CAM-1", "kind": "fire"}, "unknown_detection"),
                         ({"camera_code": "CAM-1", "kind": "waterlogging", "snapshot": b"GIF89a"}, "photo_type")):
        with pytest.raises(InvalidInput) as refused:
            record_detection(session, actor=city.operator, folder=folder, **kwargs)
        assert refused.value.code == code
    assert session.scalar(select(Incident.id).where(Incident.id != incident.id)) is None


def test_the_dispatch_migration_matches_the_model_on_sqlite(db):
    from sqlalchemy import inspect

    from data.models import Base

    inspector = inspect(db.engine)
    for table in ("category_limits", "work_periods", "calendar_days", "attachments", "notifications", "incidents",
                  "categories"):
        assert set(Base.metadata.tables[table].columns.keys()) <= {c["name"] for c in inspector.get_columns(table)}
    assert any(fk["constrained_columns"] == ["duplicate_of_id"] for fk in inspector.get_foreign_keys("incidents"))
