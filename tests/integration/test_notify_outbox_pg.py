"""The notification outbox on the real PostgreSQL (issue 17): the fault test — a webhook receiver that is
down for two minutes (of the fake clock) gets each message once when it is back, and an event queued twice
is one message (the unique idempotency key with ON CONFLICT DO NOTHING)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from data.models import OutboxMessage
from dispatch import outbox
from tests.unit.test_dispatch_service import make_city
from tests.unit.test_notify_outbox import T0, Webhook, add_channel, dispatched

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def channel_key(monkeypatch) -> None:
    monkeypatch.setenv("CITYOPS_CHANNEL_KEY", "test-channel-key")


def test_a_receiver_down_for_two_minutes_gets_every_message_once_on_postgresql(pg_db):
    hook = Webhook()
    with pg_db.uow() as s:
        city = make_city(s)
        add_channel(s, city, hook.url, department="gas")
        codes = [dispatched(s, city).code for _ in range(3)]
    moment = T0
    while moment < T0 + timedelta(minutes=2):
        with pg_db.uow() as s:
            outbox.deliver_due(s, moment)
            moment = min(m.next_attempt_at for m in s.scalars(select(OutboxMessage)))
    hook.start()
    try:
        for later in (moment, moment + timedelta(minutes=30)):
            with pg_db.uow() as s:
                outbox.deliver_due(s, later)
    finally:
        hook.stop()
    assert sorted(code for m in hook.received for code in codes if code in m["message"]) == sorted(codes)
    assert len(hook.received) == 3
    with pg_db.uow() as s:
        rows = s.scalars(select(OutboxMessage)).all()
        assert {m.state for m in rows} == {"sent"}
        assert max(m.attempts for m in rows) >= 3 and min(m.attempts for m in rows) >= 1  # the rest wait untried
        incident_id = rows[0].incident_id
        again = outbox.Event(key=rows[0].idempotency_key.rsplit("/channel:", 1)[0], kind="dispatch", title="t",
                             body="b", department_id=rows[0].channel.department_id, incident_id=incident_id)
        assert outbox.enqueue(s, again) == 0
