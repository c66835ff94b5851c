"""Linkage rules (联动规则, issue 17 §2) on SQLite: the schema refuses bad rules with the reason, the shipped
rules are valid against the catalog's departments, and a matching rule is applied when the incident is filed
(a red gas alert → the gas company leads, the fire brigade and the traffic police assist, the grid worker is
told to evacuate); a rule naming an unknown department writes nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from alerts.triage import file_incident  # the alerts side, through the wired desk
from data.catalog import DEPARTMENTS
from data.models import Alert, Department, IncidentHistory, NotificationChannel, OutboxMessage, Sensor, utcnow
from dispatch import joint, linkage
from dispatch.service import apply_action, create_incident
from tests.unit.test_dispatch_service import G1_POINT, make_city

GAS_RED = {
    "id": "gas-red", "name": {"zh": "燃气红色预警联动", "en": "Red gas alert"},
    "match": {"families": ["gas"], "levels": ["red"]},
    "lead": "gas", "assisting": ["fire_rescue", "traffic_police"],
    "notify_grid_worker": True, "instruction": {"zh": "疏散群众", "en": "Evacuate"},
}


def _rules(*documents) -> list[linkage.LinkageRule]:
    return linkage.parse_rules(documents, "test.yaml")


# --- the schema ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "reason"), [
    ({"assisting": ["gas", "fire_rescue"]}, "is the lead"),
    ({"assisting": ["fire_rescue", "fire_rescue"]}, "named twice"),
    ({"match": {}}, "give at least one of"),
    ({"match": {"levels": ["purple"]}}, "unknown alert level"),
    ({"match": {"sources": ["pigeon"]}}, "unknown source"),
    ({"lead": ""}, "lead"),
    ({"id": "Bad Id"}, "an id is"),
    ({"colour": "red"}, "colour"),
])
def test_bad_rules_are_refused_with_the_reason(change, reason):
    with pytest.raises(linkage.LinkageFileError) as refused:
        _rules({**GAS_RED, **change})
    assert reason in str(refused.value) and "test.yaml rule #1" in str(refused.value)


def test_a_rule_id_used_twice_and_a_broken_file_are_refused(tmp_path: Path):
    (tmp_path / "a.yaml").write_text("- {id: x, name: {zh: 甲, en: A}, match: {sources: [alert]}, lead: gas}\n"
                                     "- {id: x, name: {zh: 乙, en: B}, match: {sources: [alert]}, lead: gas}\n",
                                     encoding="utf-8")
    with pytest.raises(linkage.LinkageFileError, match="used twice"):
        linkage.load_rules(tmp_path)
    (tmp_path / "a.yaml").write_text("rules: [oops", encoding="utf-8")
    with pytest.raises(linkage.LinkageFileError, match="cannot read"):
        linkage.load_rules(tmp_path)


def test_the_shipped_rules_are_valid_and_name_catalog_departments():
    rules = linkage.load_rules()
    assert {r.id for r in rules} >= {"gas-red"}
    known = {d.code for d in DEPARTMENTS}
    assert all(code in known for r in rules for code in (r.lead, *r.assisting))
    gas = next(r for r in rules if r.id == "gas-red")
    assert (gas.lead, gas.assisting, gas.notify_grid_worker) == ("gas", ("fire_rescue", "traffic_police"), True)


def test_matching_needs_every_criterion_given():
    rule = _rules(GAS_RED)[0]
    red_gas = linkage.Context("L01", "alert", "gas-pressure-high", "gas", "red")
    assert linkage.matches(rule, red_gas)
    assert not linkage.matches(rule, linkage.Context("L01", "alert", "gas-pressure-high", "gas", "orange"))
    assert not linkage.matches(rule, linkage.Context("L01", "alert", "x", "water_supply", "red"))
    assert not linkage.matches(rule, linkage.Context("L01", "patrol"))  # no alert: alert criteria fail
    by_category = _rules({**GAS_RED, "match": {"categories": ["L01"], "sources": ["patrol", "hotline"]}})[0]
    assert linkage.matches(by_category, linkage.Context("L01", "patrol"))
    assert not linkage.matches(by_category, linkage.Context("L01", "operator"))


# --- applying on filing ---------------------------------------------------------------------------


@pytest.fixture
def city(session):
    city = make_city(session)
    session.add_all([Department(code="fire_rescue", name_zh="消防", name_en="Fire"),
                     Department(code="traffic_police", name_zh="交警", name_en="Traffic police")])
    session.add(NotificationChannel(name="w1 phone", url_encrypted="-", url_masked="json://…",
                                    user_id=city.worker1.id))
    session.add(Sensor(id="GAS-P-1", kind="gas_pressure", family="gas", name="gas main", unit="MPa",
                       lon=G1_POINT[0], lat=G1_POINT[1]))
    session.flush()
    return city


def _alert(session, level="red") -> Alert:
    now = utcnow()
    alert = Alert(rule_id="gas-pressure-high", sensor_id="GAS-P-1", state="firing", level=level, peak_level=level,
                  value=0.5, started_at=now - timedelta(minutes=1), fired_at=now)
    session.add(alert)
    session.flush()
    return alert


def _auto_filed(session, alert, rules):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(linkage, "shipped_rules", lambda: tuple(rules))
        return create_incident(session, category_code="L01", source="alert", title="gas over-pressure",
                               lon=G1_POINT[0], lat=G1_POINT[1], auto_file=True, alert=alert)


def test_a_red_gas_alert_filed_at_once_gets_the_lead_and_assisting_departments(session, city):
    incident = _auto_filed(session, _alert(session), _rules(GAS_RED))
    assert incident.state == "filed"
    assert [(t.department_code, t.role) for t in joint.tasks_of(session, incident.id)] == [
        ("gas", "lead"), ("fire_rescue", "assist"), ("traffic_police", "assist")]
    row = incident.history[-1] if incident.history[-1].action == "linkage" else session.scalar(
        select(IncidentHistory).where(IncidentHistory.incident_id == incident.id,
                                      IncidentHistory.action == "linkage"))
    assert row.data["rule"] == "gas-red" and row.data["assisting"] == ["fire_rescue", "traffic_police"]
    assert row.data["grid_worker_messages"] == 1  # the grid worker (the assignee, w1) is told, on their channel
    message = session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "linkage"))
    assert message.incident_id == incident.id and "疏散群众" in message.body and incident.code in message.title
    # the operator's dispatch keeps the linkage's assisting departments
    incident = apply_action(session, incident.id, "dispatch", version=incident.version, actor=city.operator)
    assert [t.department_code for t in joint.tasks_of(session, incident.id)] == [
        "gas", "fire_rescue", "traffic_police"]


def test_an_orange_alert_does_not_match_and_a_triaged_alert_links_when_filed(session, city):
    orange = _auto_filed(session, _alert(session, "orange"), _rules(GAS_RED))
    assert joint.tasks_of(session, orange.id) == []
    # triage (研判): reported first, the alert linked, then an operator files it
    alert = _alert(session)
    reported = create_incident(session, category_code="L01", source="alert", title="gas", lon=G1_POINT[0],
                               lat=G1_POINT[1], check_duplicates=False)
    alert.incident_id = reported.id
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(linkage, "shipped_rules", lambda: tuple(_rules(GAS_RED)))
        filed = apply_action(session, reported.id, "file", version=reported.version, actor=city.operator)
    assert [t.department_code for t in joint.tasks_of(session, filed.id)] == ["gas", "fire_rescue", "traffic_police"]


def test_a_rule_naming_an_unknown_department_writes_nothing(session, city, caplog):
    rules = _rules({**GAS_RED, "assisting": ["fire_rescue", "nobody"]})
    assert linkage.check_departments(session, rules) == ["linkage rule 'gas-red': unknown department(s) nobody"]
    incident = _auto_filed(session, _alert(session), rules)
    assert incident.state == "filed"
    assert joint.tasks_of(session, incident.id) == []
    assert "not applied" in caplog.text


def test_an_alert_filed_at_once_through_triage_gets_its_linkage(session, city):
    alert = _alert(session)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(linkage, "shipped_rules", lambda: tuple(_rules(GAS_RED)))
        incident, created = file_incident(session, alert, None, auto_file=True, category="L01")
    assert created and incident.state == "filed" and alert.incident_id == incident.id
    assert [(t.department_code, t.role) for t in joint.tasks_of(session, incident.id)] == [
        ("gas", "lead"), ("fire_rescue", "assist"), ("traffic_police", "assist")]
