"""Scope gaps (issue 14, finding 9): who may add photos to an incident, who sees a caller's full name, and
that the console answers a handler about an incident outside their scope exactly as about one that does
not exist (no state, no version, no code of it)."""

from __future__ import annotations

import io

import pytest
from dash._callback_context import context_value
from dash._utils import AttributeDict
from sqlalchemy import func, select

from callbacks import console
from data.models import Attachment
from dispatch import photos
from dispatch.service import ActionNotAllowed, Caller, apply_action, create_incident, incident_to_dict, mask_name
from i18n import t
from layouts import ids
from tests.unit import test_api_v1 as v1
from tests.unit import test_pages as pages
from tests.unit.test_dispatch_channels import jpeg
from tests.unit.test_dispatch_pages import states, uploads
from tests.unit.test_dispatch_service import G1_POINT, G2_POINT

app, tokens, call = v1.app, v1.tokens, v1.call
city, server, callback_context = pages.city, pages.server, pages.callback_context
signed_in, report, stored, clicked, texts = pages.signed_in, pages.report, pages.stored, pages.clicked, pages.texts
NOWHERE = 987654  # an incident id that names nothing
__all__ = ["uploads"]  # the autouse fixture keeping photos in a temporary folder


# --- photos -------------------------------------------------------------------------------------


def _upload(call, incident_id: int, user: str):
    return call("POST", f"/api/v1/incidents/{incident_id}/photos", user, body=None,
                data={"photo": (io.BytesIO(jpeg()), "p.jpg")}, content_type="multipart/form-data")


def _photos(db) -> int:
    with db.uow() as s:
        return s.scalar(select(func.count(Attachment.id)))


def test_a_leader_adds_no_photo_to_any_incident_and_operators_and_its_worker_do(call, db, tokens):
    incident = v1._report(call)  # L01 in G1, gas department
    refused = _upload(call, incident["id"], "boss")
    assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "forbidden_action"
    assert _photos(db) == 0
    assert _upload(call, incident["id"], "w2").status_code == 404  # another grid's worker does not see it
    for user in ("op", "admin", "w1", "gasman"):
        assert _upload(call, incident["id"], user).status_code == 201, user
    assert _photos(db) == 4


def test_the_service_refuses_photos_from_users_outside_the_incidents_scope(session):
    from tests.unit.test_dispatch_service import make_city

    town = make_city(session)
    incident = create_incident(session, category_code="L01", source="patrol", title="gas", lon=G1_POINT[0],
                               lat=G1_POINT[1], actor=town.worker1)
    for outsider in (town.leader, town.worker2, town.roads_handler):
        with pytest.raises(ActionNotAllowed):
            photos.store_photo(session, jpeg(), incident_id=incident.id, uploaded_by=outsider.id)
    on_patrol = create_incident(session, category_code="L01", source="patrol", title="gas", lon=G2_POINT[0],
                                lat=G2_POINT[1], actor=town.worker1)  # reported outside w1's own grid
    assert photos.store_photo(session, jpeg(), incident_id=on_patrol.id, uploaded_by=town.worker1.id).id


# --- the caller's name --------------------------------------------------------------------------


def test_workers_handlers_and_leaders_see_the_callers_name_masked(call, db, tokens):
    with db.uow() as s:
        incident_id = create_incident(s, category_code="L01", source="hotline", title="燃气味", lon=G1_POINT[0],
                                      lat=G1_POINT[1], caller=Caller(name="张建国", phone="13812345678")).id
    seen = {user: call("GET", f"/api/v1/incidents/{incident_id}", user).get_json()["caller"]
            for user in ("admin", "op", "boss", "gasman", "w1")}
    assert seen["admin"] == seen["op"] == {"name": "张建国", "phone": "138****5678"}
    for user in ("boss", "gasman", "w1"):
        assert seen[user] == {"name": "张**", "phone": "138****5678"}, user
    listed = call("GET", "/api/v1/incidents", "gasman").get_json()
    assert "张建国" not in str(listed)


def test_mask_name_keeps_only_the_first_character():
    assert [mask_name(n) for n in ("张建国", "San Zhang", "赵", " ", None)] == ["张**", "S********", "*", None, None]


def test_the_console_detail_masks_the_callers_name_for_a_handler(server, db, city):
    with db.uow() as s:
        incident = create_incident(s, category_code="S0101", source="hotline", title="垃圾", lon=G1_POINT[0],
                                   lat=G1_POINT[1], caller=Caller(name="张建国", phone="13812345678"))
        incident_id = incident.id
        assert incident_to_dict(incident)["caller"]["name"] == "张建国"  # an internal reader (no user)
    with signed_in(server, city.handler):
        handler_view = " ".join(texts(console.show_detail(incident_id, 0)[0]))
    with signed_in(server, city.operator):
        operator_view = " ".join(texts(console.show_detail(incident_id, 0)[0]))
    assert "张建国" not in handler_view and "张** 138****5678" in handler_view
    assert "张建国 138****5678" in operator_view


# --- console messages -----------------------------------------------------------------------------


def _act(server, user, incident_id: int, version: int, action: str = "start", target: str | None = None) -> str:
    with signed_in(server, user):
        clicked({"type": ids.CONSOLE_ACTION, "action": action})
        message, *_ = console.take_action([1], {"id": incident_id, "version": version}, "x", None, 0, None, target)
    return " ".join(texts(message))


def test_a_handler_is_told_not_found_for_another_departments_incident_whatever_its_version(server, db, city):
    theirs = report(db, city.operator, category="L01", actions=("file", "dispatch"))  # the gas company's
    version = stored(db, theirs)[0].version
    nothing = _act(server, city.handler, NOWHERE, 1)
    assert nothing == t("error.incident_not_found", "zh")
    for guess in (version, version + 1, 1):
        assert _act(server, city.handler, theirs, guess) == nothing
    assert stored(db, theirs)[0].state == "dispatched"


def test_a_merge_target_outside_the_users_scope_reads_as_no_incident(server, db, city):
    mine = report(db, city.operator, category="S0101", actions=("file",))  # sanitation's: the handler's
    theirs = stored(db, report(db, city.operator, category="L01", actions=("file", "dispatch")))[0].code
    version = stored(db, mine)[0].version
    assert _act(server, city.handler, mine, version, "merge", target=theirs) == \
        _act(server, city.handler, mine, version, "merge", target="SJ20990101-999999")


def test_a_bulk_refusal_names_no_code_of_an_incident_outside_the_users_scope(server, db, city):
    theirs = report(db, city.operator, category="L01", actions=("file", "dispatch"))
    code = stored(db, theirs)[0].code
    versions = {str(theirs): stored(db, theirs)[0].version, str(NOWHERE): 1}
    check = ids.CONSOLE_CHECK
    with signed_in(server, city.handler):
        context_value.set(AttributeDict(
            triggered_inputs=[{"prop_id": '{"action":"escalate","type":"console-bulk"}.n_clicks', "value": 1}],
            states_list=states(({"type": check, "id": theirs}, [theirs]), ({"type": check, "id": NOWHERE}, [NOWHERE])),
        ))
        message, _ = console.take_bulk_action([1], [[theirs], [NOWHERE]], versions, None, 0)
    text = " ".join(texts(message))
    assert code not in text
    reason = t("error.incident_not_found", "zh")
    assert f"{theirs} ({reason})" in text and f"{NOWHERE} ({reason})" in text


def test_a_merge_in_the_timeline_names_the_other_incident_only_to_who_may_see_it(server, db, city):
    original = report(db, city.operator, category="L01", actions=("file", "dispatch"))  # the gas company's
    duplicate = report(db, city.operator, category="S0101")  # sanitation's: the handler sees it
    original_code = stored(db, original)[0].code
    with db.uow() as s:
        apply_action(s, duplicate, "merge", version=1, actor=city.operator, target_id=original)
    with signed_in(server, city.handler):
        handler_view = " ".join(texts(console.show_detail(duplicate, 0)[0]))
    with signed_in(server, city.operator):
        operator_view = " ".join(texts(console.show_detail(duplicate, 0)[0]))
    assert original_code not in handler_view and t("console.merged_with", "zh", code="—") in handler_view
    assert t("console.merged_with", "zh", code=original_code) in operator_view
