"""An alert as an OASIS Common Alerting Protocol 1.2 message (DESIGN §4 ``GET /api/v1/alerts/{id}/cap``).

One ``info`` block per catalog language (zh-CN, en-US). A pending or firing alert is ``msgType`` Alert
(sent when it fired, or started for a pending one); a resolved one is an Update with responseType
AllClear that references the original message; an exercise (drill) alert has ``status`` Exercise.
Severity follows DESIGN §5: red → Extreme, orange → Severe, yellow → Moderate, blue → Minor. The area
is a circle round the sensor (radius 0 = the point itself) with the sensor's grid as a geocode.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from data.models import Alert, Grid, Rule, Sensor
from i18n import t
from settings import get_settings

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
SENDER = "cityops@ioc.city.gov.cn"
SEVERITY = {"red": "Extreme", "orange": "Severe", "yellow": "Moderate", "blue": "Minor"}
LANGUAGES = (("zh", "zh-CN"), ("en", "en-US"))
#: CAP categories per sensor family.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "gas": ("Infra", "Safety"),
    "water_supply": ("Infra",),
    "drainage": ("Met", "Infra"),
    "bridge": ("Infra", "Transport"),
    "manhole": ("Infra", "Safety"),
    "heating": ("Infra",),
    "air": ("Env",),
    "surface_water": ("Env",),
    "outfall": ("Env",),
    "noise": ("Env",),
}
#: Radius (km) of the area around a sensor: gas may need people kept away; others are points.
RADIUS_KM = {"gas": 0.3}


def cap_time(moment: datetime, zone: ZoneInfo) -> str:
    """A CAP dateTime: whole seconds, a numeric offset, and UTC written ``-00:00`` (never ``Z``)."""
    local = moment.astimezone(zone).replace(microsecond=0)
    text = local.isoformat()
    return text[:-6] + "-00:00" if local.utcoffset() is not None and not local.utcoffset() else text


@dataclass(frozen=True)
class _Context:
    alert: Alert
    sensor: Sensor
    grid_code: str | None
    names: dict[str, str]


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        element.text = text
    return element


def _pair(parent: ET.Element, tag: str, name: str, value: str) -> None:
    holder = _sub(parent, tag)
    _sub(holder, "valueName", name)
    _sub(holder, "value", value)


def _identifier(alert: Alert, resolved: bool) -> str:
    return f"cityops-alert-{alert.id}" + ("-allclear" if resolved else "")


def _info(root: ET.Element, ctx: _Context, lang: str, code: str, zone: ZoneInfo) -> None:
    alert, sensor = ctx.alert, ctx.sensor
    resolved = alert.state == "resolved"
    info = _sub(root, "info")
    _sub(info, "language", code)
    for category in CATEGORIES.get(sensor.family, ("Other",)):
        _sub(info, "category", category)
    event = ctx.names.get(lang) or alert.rule_id
    _sub(info, "event", event)
    if resolved:
        _sub(info, "responseType", "AllClear")
    _sub(info, "urgency", "Past" if resolved else "Immediate" if alert.state == "firing" else "Expected")
    _sub(info, "severity", SEVERITY.get(alert.level, "Unknown"))
    _sub(info, "certainty", "Likely" if alert.state == "pending" else "Observed")
    _pair(info, "eventCode", "cityops-rule", alert.rule_id)
    _sub(info, "onset", cap_time(alert.fired_at or alert.started_at, zone))
    _sub(info, "senderName", t("alerts.cap.sender_name", lang))
    level = t(f"level.{alert.level}", lang)
    state = t(f"alertstate.{alert.state}", lang)
    _sub(info, "headline", f"[{level}] {event} · {sensor.name} ({state})")
    value = "—" if alert.value is None else f"{alert.value:g} {sensor.unit}"
    _sub(info, "description", t("alerts.cap.description", lang, sensor=sensor.id, value=value, level=level))
    for name, text in (
        ("level", alert.level),
        ("state", alert.state),
        ("sensor_id", sensor.id),
        ("value", "" if alert.value is None else f"{alert.value:g}"),
        ("unit", sensor.unit),
    ):
        _pair(info, "parameter", name, text)
    if alert.incident_id is not None:
        _pair(info, "parameter", "incident_id", str(alert.incident_id))
    area = _sub(info, "area")
    _sub(area, "areaDesc", sensor.name + (f" · {ctx.grid_code}" if ctx.grid_code else ""))
    _sub(area, "circle", f"{sensor.lat:.6f},{sensor.lon:.6f} {RADIUS_KM.get(sensor.family, 0)}")
    if ctx.grid_code:
        _pair(area, "geocode", "grid", ctx.grid_code)


def alert_cap(session: Session, alert: Alert, *, zone: ZoneInfo | None = None) -> bytes:
    """The CAP 1.2 XML document (UTF-8 bytes with an XML declaration) of ``alert``."""
    zone = zone or get_settings().zone
    sensor = session.get(Sensor, alert.sensor_id)
    grid_code = session.scalar(select(Grid.code).where(Grid.id == sensor.grid_id)) if sensor.grid_id else None
    rule = session.get(Rule, alert.rule_id)
    names = dict((rule.body or {}).get("name", {})) if rule is not None else {}
    ctx = _Context(alert, sensor, grid_code, names)
    resolved = alert.state == "resolved"
    ET.register_namespace("", CAP_NS)
    root = ET.Element(f"{{{CAP_NS}}}alert")
    _sub(root, "identifier", _identifier(alert, resolved))
    _sub(root, "sender", SENDER)
    first_sent = cap_time(alert.fired_at or alert.started_at, zone)
    _sub(root, "sent", cap_time(alert.resolved_at or datetime.now(UTC), zone) if resolved else first_sent)
    _sub(root, "status", "Exercise" if alert.exercise else "Actual")
    _sub(root, "msgType", "Update" if resolved else "Alert")
    _sub(root, "source", "CityOps")
    _sub(root, "scope", "Public")
    if alert.exercise:
        _sub(root, "note", t("alerts.cap.exercise_note", "en"))
    if resolved:
        _sub(root, "references", f"{SENDER},{_identifier(alert, False)},{first_sent}")
    if alert.incident_id is not None:
        _sub(root, "incidents", f"incident-{alert.incident_id}")
    for lang, code in LANGUAGES:
        _info(root, ctx, lang, code, zone)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
