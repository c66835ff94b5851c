"""Notifications that reach people (issue 17 §3): events queue outbox messages in their own transaction,
the outbox job delivers each exactly once to a real local webhook receiver and a real local SMTP server,
a receiver that is down loses nothing, and an acknowledged or silenced alert stops its notifications.
The job is driven directly with a fake clock."""

from __future__ import annotations

import email
import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from alerts.engine import evaluate_pending
from alerts.inbox import acknowledge
from alerts.ingest import ingest_readings
from alerts.rules_schema import rule_document, validate_rule
from data.models import Alert, DeliveryAttempt, NotificationChannel, OutboxMessage, Rule, Sensor
from dispatch import outbox
from dispatch.service import sweep_cards
from tests.unit.test_dispatch_service import _act, _new, make_city

#: The job's clock: an hour after the wall clock at import, so every message the service queues (at the wall
#: clock, like any event) is due by then; the steps after it are this fake clock's alone.
T0 = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Webhook:
    """A tiny JSON webhook receiver on a fixed port that can be started and stopped (down = not listening)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[dict] = []
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


class Mailbox:
    """What a local aiosmtpd server received."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email_policy))
        return "250 OK"

    def texts(self) -> list[str]:
        return [m.get_body(("plain",)).get_content() for m in self.messages]


@pytest.fixture(autouse=True)
def channel_key(monkeypatch) -> None:
    monkeypatch.setenv("CITYOPS_CHANNEL_KEY", "test-channel-key")


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    hook.start()
    yield hook
    hook.stop()


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, str]]:
    mailbox, port = Mailbox(), free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, f"mailto://127.0.0.1:{port}?from=cityops@example.org&to=duty@example.org"
    controller.stop()


@pytest.fixture
def city(session):
    return make_city(session)


def add_channel(session, city, url: str, **target) -> NotificationChannel:
    spec = outbox.ChannelSpec(url=url, name=target.pop("name", "channel"), **target)
    return outbox.create_channel(session, spec, actor_id=city.admin.id)


def dispatched(session, city):
    incident = _new(session, city)
    _act(session, incident, "file", city.operator)
    return _act(session, incident, "dispatch", city.operator, department_code="gas")


def deliver(session, now: datetime) -> dict[str, int]:
    counts = outbox.deliver_due(session, now)
    session.flush()
    return counts


# --- one message per event -----------------------------------------------------------------------


def test_a_dispatch_reaches_the_department_webhook_once_naming_the_incident(session, city, webhook):
    add_channel(session, city, webhook.url, department="gas")
    add_channel(session, city, "json://127.0.0.1:9/roads", department="roads")  # another department: not told
    incident = dispatched(session, city)
    assert deliver(session, T0)["sent"] == 1
    assert deliver(session, T0 + timedelta(minutes=5))["sent"] == 0
    (message,) = webhook.received
    assert incident.code in message["title"] and incident.code in message["message"]
    (row,) = session.scalars(select(OutboxMessage)).all()
    assert f"ref: {row.idempotency_key}" in message["message"]
    assert (row.state, row.attempts, row.sent_at) == ("sent", 1, T0)


def test_queueing_the_same_event_again_queues_nothing(session, city, webhook):
    add_channel(session, city, webhook.url, department="gas")
    incident = dispatched(session, city)
    department = incident.department
    before = incident.version
    incident.version = before - 1  # the version the dispatch was taken at: the same event
    assert outbox.on_incident_event(session, "dispatch", incident, department=department) == 0
    incident.version = before
    assert len(session.scalars(select(OutboxMessage)).all()) == 1


def test_an_escalation_and_a_postponement_request_reach_the_duty_mailbox_once_each(session, city, smtp):
    mailbox, url = smtp
    add_channel(session, city, url, duty_post="duty_officer")
    incident = dispatched(session, city)
    incident = _act(session, incident, "escalate", city.operator, note="hurry")
    _act(session, incident, "postpone", city.gas_handler, hours=4)
    counts = deliver(session, T0)
    deliver(session, T0 + timedelta(minutes=1))
    assert counts["sent"] == 3  # the desk hears the dispatch too
    texts = mailbox.texts()
    assert len(texts) == 3 and all(incident.code in text for text in texts)
    subjects = sorted(m["subject"] for m in mailbox.messages)
    assert any("Escalation" in s or "督办" in s for s in subjects)
    assert len({text.rsplit("ref: ", 1)[1] for text in texts}) == 3


def test_a_red_card_notifies_once_per_card(session, city, webhook):
    add_channel(session, city, webhook.url, department="gas")
    incident = dispatched(session, city)
    deliver(session, T0)
    webhook.received.clear()
    late = incident.close_deadline + timedelta(hours=1)
    sweep_cards(session, late)
    sweep_cards(session, late + timedelta(minutes=1))
    deliver(session, late + timedelta(minutes=2))
    (message,) = webhook.received
    assert incident.code in message["message"] and ("Red card" in message["title"] or "红牌" in message["title"])


def test_a_channel_above_the_card_colour_hears_no_yellow_card(session, city, webhook):
    add_channel(session, city, webhook.url, department="gas", min_level="red")
    incident = dispatched(session, city)
    sweep_cards(session, incident.handle_deadline - timedelta(minutes=1))  # yellow (close to the deadline)
    session.refresh(incident)
    assert incident.card == "yellow"
    assert [m.kind for m in session.scalars(select(OutboxMessage))] == ["dispatch"]  # dispatches have no level


# --- durability ----------------------------------------------------------------------------------


def test_a_receiver_that_is_down_loses_nothing_and_gets_the_message_once_when_back(session, city):
    hook = Webhook()  # not listening yet
    add_channel(session, city, hook.url, department="gas")
    incident = dispatched(session, city)
    assert deliver(session, T0)["failed"] == 1
    (row,) = session.scalars(select(OutboxMessage)).all()
    assert (row.state, row.attempts, row.next_attempt_at) == ("pending", 1, T0 + outbox.backoff(1))
    assert deliver(session, T0 + timedelta(seconds=5)) == {"sent": 0, "failed": 0, "waiting": 0, "given_up": 0,
                                                         "cancelled": 0}  # backing off
    moment = T0
    while moment < T0 + timedelta(minutes=2):  # down for two minutes: retried with growing waits
        moment = row.next_attempt_at
        deliver(session, moment)
    assert row.state == "pending" and row.attempts >= 3
    waits = [b.at - a.at for a, b in zip(attempts(session, row), attempts(session, row)[1:], strict=False)]
    assert waits == sorted(waits) and waits[0] < waits[-1]
    hook.start()
    try:
        deliver(session, row.next_attempt_at)
        deliver(session, row.next_attempt_at + timedelta(minutes=30))
    finally:
        hook.stop()
    assert len(hook.received) == 1 and incident.code in hook.received[0]["message"]
    history = attempts(session, row)
    assert [a.ok for a in history] == [False] * (len(history) - 1) + [True]
    assert all(a.error for a in history[:-1]) and row.state == "sent"


def attempts(session, row: OutboxMessage) -> list[DeliveryAttempt]:
    return list(session.scalars(select(DeliveryAttempt).where(DeliveryAttempt.message_id == row.id)
                                .order_by(DeliveryAttempt.id)))


def test_a_down_channel_does_not_hold_up_another(session, city, webhook):
    add_channel(session, city, Webhook().url, department="gas")
    add_channel(session, city, webhook.url, duty_post="duty_officer")
    dispatched(session, city)
    counts = deliver(session, T0)
    assert (counts["sent"], counts["failed"]) == (1, 1) and len(webhook.received) == 1


def test_deleting_a_channel_cancels_what_it_has_not_sent(session, city):
    channel = add_channel(session, city, Webhook().url, department="gas")
    dispatched(session, city)
    outbox.delete_channel(session, channel.id, actor_id=city.admin.id)
    assert deliver(session, T0)["sent"] == 0
    assert [m.state for m in session.scalars(select(OutboxMessage))] == ["cancelled"]


# --- alerts --------------------------------------------------------------------------------------


@pytest.fixture
def gas_sensor(session, city) -> str:
    session.add(Sensor(id="P-1", kind="gas_pressure", family="gas", name="Main St", unit="MPa", lon=117.005,
                       lat=36.605))
    spec = validate_rule({
        "id": "low-pressure", "name": {"zh": "低压", "en": "low pressure"}, "applies_to": {"ids": ["P-1"]},
        "condition": {"type": "threshold", "op": "<", "levels": {"yellow": 0.2, "red": 0.1}},
        "incident": {"category": "L01", "auto_create": False},
    })
    session.add(Rule(id=spec.id, body=rule_document(spec), enabled=True, source="api", updated_at=T0))
    session.flush()
    return "P-1"


def fire(session, sensor: str, value: float, at: datetime) -> None:
    ingest_readings(session, [{"sensor_id": sensor, "ts": at.isoformat(), "value": value}], now=at)
    evaluate_pending(session, now=at)


def test_a_firing_alert_notifies_its_category_department_at_or_above_the_channel_level(
    session, city, gas_sensor, webhook
):
    add_channel(session, city, webhook.url, department="gas")
    add_channel(session, city, webhook.url + "?red", duty_post="duty_officer", min_level="red")
    fire(session, gas_sensor, 0.15, T0)  # yellow: the department only
    fire(session, gas_sensor, 0.16, T0 + timedelta(seconds=10))  # still yellow: no new event
    deliver(session, T0 + timedelta(seconds=20))
    assert len(webhook.received) == 1
    assert "P-1" in webhook.received[0]["message"] and "P-1" in webhook.received[0]["title"]
    fire(session, gas_sensor, 0.05, T0 + timedelta(seconds=30))  # red: both channels
    deliver(session, T0 + timedelta(seconds=40))
    assert len(webhook.received) == 3
    alert = session.scalars(select(Alert)).one()
    states = outbox.deliveries(session, alert_id=alert.id)
    assert [(d["state"], d["attempts"]) for d in states] == [("sent", 1)] * 3


def test_acknowledging_an_alert_stops_its_unsent_notifications(session, city, gas_sensor, webhook):
    add_channel(session, city, webhook.url, department="gas")
    fire(session, gas_sensor, 0.15, T0)
    alert = session.scalars(select(Alert)).one()
    acknowledge(session, alert.id, city.operator.id, T0 + timedelta(seconds=1))
    counts = deliver(session, T0 + timedelta(seconds=5))
    assert (counts["sent"], counts["cancelled"]) == (0, 1) and webhook.received == []
    assert outbox.deliveries(session, alert_id=alert.id)[0]["state"] == "cancelled"


def test_a_silenced_alert_notifies_nobody(session, city, gas_sensor, webhook):
    add_channel(session, city, webhook.url, department="gas")
    fire(session, gas_sensor, 0.15, T0)
    session.scalars(select(Alert)).one().muted = "silence"
    deliver(session, T0 + timedelta(seconds=5))
    assert webhook.received == []


def label_rule(session, **labels: str) -> None:
    rule = session.get(Rule, "low-pressure")
    rule.body = {**rule.body, "labels": labels}
    session.flush()


def escalations(session) -> list[tuple[str, str]]:
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "alert_unacked")
                           .order_by(OutboxMessage.id))
    return [(m.channel.duty_post, m.state) for m in rows]


def test_an_unacknowledged_red_alert_climbs_the_duty_chain_once_per_step(session, city, gas_sensor, webhook):
    label_rule(session, escalate_after="10m")
    for post in outbox.ESCALATION_CHAIN:
        add_channel(session, city, f"{webhook.url}?{post}", duty_post=post, name=post)
    fire(session, gas_sensor, 0.05, T0)  # red
    outbox.outbox_job(session, T0 + timedelta(minutes=9))
    assert escalations(session) == []
    outbox.outbox_job(session, T0 + timedelta(minutes=10))
    assert escalations(session) == [("duty_leader", "pending")]  # queued after this run's sends: sent next run
    outbox.outbox_job(session, T0 + timedelta(minutes=11))
    assert escalations(session) == [("duty_leader", "sent")]
    outbox.outbox_job(session, T0 + timedelta(minutes=25))
    outbox.outbox_job(session, T0 + timedelta(hours=3))  # the chain ends at the department head
    assert escalations(session) == [("duty_leader", "sent"), ("department_head", "sent")]
    titles = [m["title"] for m in webhook.received]
    assert sum("P-1" in title for title in titles) == 3  # the desk heard the alert, then 2 escalations


def test_acknowledging_stops_the_chain(session, city, gas_sensor, webhook):
    label_rule(session, escalate_after="10m")
    for post in outbox.ESCALATION_CHAIN:
        add_channel(session, city, f"{webhook.url}?{post}", duty_post=post, name=post)
    fire(session, gas_sensor, 0.05, T0)
    escalated = T0 + timedelta(minutes=10)
    outbox.escalate_unacknowledged(session, escalated)
    acknowledge(session, session.scalars(select(Alert)).one().id, city.operator.id, escalated)
    outbox.outbox_job(session, T0 + timedelta(minutes=30))
    outbox.outbox_job(session, T0 + timedelta(minutes=31))
    assert escalations(session) == [("duty_leader", "cancelled")]


def test_yellow_alerts_and_rules_without_the_label_do_not_escalate(session, city, gas_sensor, webhook):
    add_channel(session, city, webhook.url, duty_post="duty_leader")
    fire(session, gas_sensor, 0.05, T0)
    assert outbox.escalate_unacknowledged(session, T0 + timedelta(hours=1)) == 0  # no label
    label_rule(session, escalate_after="not a duration")
    assert outbox.escalate_unacknowledged(session, T0 + timedelta(hours=1)) == 0
    label_rule(session, escalate_after="10m")
    session.scalars(select(Alert)).one().level = "yellow"
    assert outbox.escalate_unacknowledged(session, T0 + timedelta(hours=1)) == 0


# --- channels ------------------------------------------------------------------------------------


def test_channel_urls_are_encrypted_at_rest_and_shown_masked(session, city):
    row = add_channel(session, city, "json://hookuser:s3cret-pass@example.org/hook", department="gas")
    assert "s3cret-pass" not in row.url_encrypted and "s3cret-pass" not in row.url_masked
    assert outbox.decrypt_url(row.url_encrypted) == "json://hookuser:s3cret-pass@example.org/hook"
    assert "s3cret-pass" not in json.dumps(outbox.channel_to_dict(row))


@pytest.mark.parametrize(("target", "code"), [
    ({"department": "nowhere"}, "unknown_department"), ({"user": "nobody"}, "unknown_user"),
    ({}, "invalid_target"), ({"department": "gas", "duty_post": "duty_officer"}, "invalid_target"),
    ({"department": "gas", "min_level": "purple"}, "invalid_level"),
])
def test_bad_channels_are_refused_with_the_reason(session, city, target, code):
    with pytest.raises(outbox.ChannelError) as refused:
        add_channel(session, city, "json://example.org/hook", **target)
    assert refused.value.code == code
    assert session.scalars(select(NotificationChannel)).all() == []


def test_a_url_apprise_cannot_parse_is_refused_naming_the_field(session, city):
    with pytest.raises(outbox.ChannelError) as refused:
        add_channel(session, city, "not a url at all", department="gas")
    assert (refused.value.code, refused.value.field) == ("invalid_url", "url")


def test_without_a_key_no_channel_is_stored(session, city, monkeypatch):
    monkeypatch.delenv("CITYOPS_CHANNEL_KEY")
    monkeypatch.delenv("CITYOPS_SECRET_KEY", raising=False)
    from settings import get_settings

    get_settings.cache_clear()
    with pytest.raises(outbox.ChannelError) as refused:
        add_channel(session, city, "json://example.org/hook", department="gas")
    assert refused.value.code == "channel_key_missing"


# --- the API -------------------------------------------------------------------------------------


@pytest.fixture
def api(db):
    """A test client and bearer headers of the admin and the operator of a committed small city."""
    from app import create_app
    from data.accounts import issue_token
    from settings import Settings

    with db.uow() as s:
        made = make_city(s)
        tokens = {name: issue_token(s, user) for name, user in (("admin", made.admin), ("op", made.operator))}
    server, _ = create_app(Settings(database_url=str(db.url), secret_key="notify"), db)
    server.testing = True
    client = server.test_client()
    return client, {name: {"Authorization": f"Bearer {token}"} for name, token in tokens.items()}


def test_admins_manage_channels_through_the_api_masked_and_audited(api, db):
    client, auth = api
    body = {"url": "json://hookuser:s3cret-pass@example.org/hook", "department": "gas", "name": "Gas desk",
            "min_level": "orange"}
    assert client.post("/api/v1/channels", json=body, headers=auth["op"]).status_code == 403
    answer = client.post("/api/v1/channels", json=body, headers=auth["admin"])
    assert answer.status_code == 201, answer.json
    made = answer.json
    assert (made["department"], made["name"], made["min_level"]) == ("gas", "Gas desk", "orange")
    listed = client.get("/api/v1/channels", headers=auth["admin"])
    assert [c["id"] for c in listed.json] == [made["id"]] and "s3cret-pass" not in listed.get_data(as_text=True)
    assert client.delete("/api/v1/channels/999", headers=auth["admin"]).status_code == 404
    assert client.delete(f"/api/v1/channels/{made['id']}", headers=auth["admin"]).status_code == 200
    assert client.get("/api/v1/channels", headers=auth["admin"]).json == []
    from data.models import AuditLog

    with db.uow() as s:
        audited = s.scalars(select(AuditLog).where(AuditLog.target == f"channel:{made['id']}")).all()
        assert [a.action for a in audited] == ["channel.create", "channel.delete"]
        assert all("s3cret-pass" not in json.dumps(a.detail) for a in audited)


@pytest.mark.parametrize(("change", "field"), [
    ({"url": "definitely not a url"}, "url"), ({"min_level": "purple"}, "min_level"),
    ({"department": "nowhere"}, "department"), ({"user": "someone"}, "department"),
    ({"department": None, "user": "someone"}, "user"), ({"name": ""}, "name"),
])
def test_a_bad_channel_is_a_422_naming_the_field(api, change, field):
    client, auth = api
    body = {"url": "json://example.org/hook", "department": "gas", "name": "x", **change}
    answer = client.post("/api/v1/channels", json=body, headers=auth["admin"])
    assert answer.status_code == 422 and answer.json["error"]["message"].startswith(field)
    assert client.get("/api/v1/channels", headers=auth["admin"]).json == []


def test_the_incident_shows_the_delivery_of_its_notifications(api, db, webhook):
    client, auth = api
    client.post("/api/v1/channels", json={"url": webhook.url, "department": "gas", "name": "Gas desk"},
                headers=auth["admin"])
    with db.uow() as s:
        incident = dispatched(s, make_city_users(s))
        incident_id = incident.id
    shown = client.get(f"/api/v1/incidents/{incident_id}/notifications", headers=auth["op"]).json
    assert [(n["channel"], n["kind"], n["state"], n["attempts"]) for n in shown] == [("Gas desk", "dispatch",
                                                                                     "pending", 0)]
    with db.uow() as s:
        outbox.deliver_due(s, T0)
    shown = client.get(f"/api/v1/incidents/{incident_id}/notifications", headers=auth["op"]).json
    assert [(n["state"], n["attempts"], n["sent_at"] is not None) for n in shown] == [("sent", 1, True)]
    assert client.get("/api/v1/incidents/99999/notifications", headers=auth["op"]).status_code == 404


def make_city_users(session) -> SimpleNamespace:
    """The users ``dispatched`` needs, from a city made in an earlier unit of work."""
    from data.models import User

    users = {u.username: u for u in session.scalars(select(User))}
    return SimpleNamespace(worker1=users["w1"], operator=users["op"])
