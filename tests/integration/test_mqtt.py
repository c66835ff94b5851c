"""The MQTT feed against the real Mosquitto at 127.0.0.1:1883: QoS 1, persistent session, reconnect,
and a redelivered message never counted twice."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from alerts.mqtt import TOPIC_PREFIX, MqttFeed, parse_message
from data.models import Reading, Sensor
from tests.stack import discard_mqtt_session, wait_for

BROKER = "mqtt://127.0.0.1:1883"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, db):
    """Each feed test on the embedded SQLite and on PostgreSQL (readings partitioned by day), as the
    production profile runs it."""
    return db if request.param == "sqlite" else request.getfixturevalue("pg_db")


@pytest.fixture
def sensor_id(db):
    sensor_id = f"MQ-{uuid.uuid4().hex[:8]}"
    with db.uow() as s:
        s.add(Sensor(id=sensor_id, kind="gas_pressure", family="gas", name="mqtt", unit="MPa", lon=120.1, lat=30.2))
    return sensor_id


@pytest.fixture
def client_id():
    """A client id of its own; its persistent session is discarded afterwards."""
    cid = f"cityops-test-{uuid.uuid4().hex[:8]}"
    yield cid
    discard_mqtt_session(BROKER, cid)


@pytest.fixture
def publisher():
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.connect("127.0.0.1", 1883)
    client.loop_start()

    def publish(sensor_id: str, payload: object) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        client.publish(TOPIC_PREFIX + sensor_id, body, qos=1).wait_for_publish(5)

    yield publish
    client.disconnect()
    client.loop_stop()


def reading(i: int, value: float) -> dict:
    return {"ts": (T0 + timedelta(seconds=i)).isoformat(), "value": value}


def stored(db, sensor_id) -> int:
    with db.uow() as s:
        return s.scalar(select(func.count()).select_from(Reading).where(Reading.sensor_id == sensor_id))


def started(db, client_id) -> MqttFeed:
    feed = MqttFeed(db, BROKER, client_id=client_id).start()
    assert feed.connected.wait(10), "Mosquitto at 127.0.0.1:1883 is not reachable"
    time.sleep(0.2)  # let the SUBACK arrive
    return feed


def test_single_and_list_payloads_are_stored_and_a_bad_one_does_not_stop_the_feed(db, sensor_id, client_id, publisher):
    feed = started(db, client_id)
    try:
        publisher(sensor_id, reading(0, 0.30))
        publisher(sensor_id, b"{not json")
        publisher(sensor_id, [reading(1, 0.31), reading(2, float("nan")), reading(3, 0.33)])
        assert wait_for(lambda: stored(db, sensor_id) == 3)
        assert feed.counts["bad_messages"] >= 1
    finally:
        feed.stop()
    with db.uow() as s:
        assert s.get(Sensor, sensor_id).last_value == 0.33


def test_messages_published_while_the_feed_is_away_arrive_through_the_persistent_session(
    db, sensor_id, client_id, publisher
):
    started(db, client_id).stop()
    publisher(sensor_id, [reading(0, 0.30), reading(1, 0.31)])  # nobody connected now
    feed = started(db, client_id)
    try:
        assert wait_for(lambda: stored(db, sensor_id) == 2)
    finally:
        feed.stop()


class UnackedFeed(MqttFeed):
    """A feed that stores but 'crashes' before acknowledging: the broker must deliver again."""

    def write(self, batch):
        rows = [row for _, _, message_rows in batch for row in message_rows]
        if rows:
            self._store(rows)
        self.counts["stored_unacked"] += len(batch)


def test_a_message_redelivered_after_a_crash_is_a_duplicate_never_a_second_reading(
    db, sensor_id, client_id, publisher
):
    crashing = UnackedFeed(db, BROKER, client_id=client_id).start()
    assert crashing.connected.wait(10)
    time.sleep(0.2)
    publisher(sensor_id, [reading(0, 0.30), reading(1, 0.31)])
    assert wait_for(lambda: stored(db, sensor_id) == 2)
    crashing.stop()  # never acknowledged
    feed = started(db, client_id)
    try:
        assert wait_for(lambda: feed.counts["duplicates"] >= 2)
        assert stored(db, sensor_id) == 2 and feed.counts["accepted"] == 0
    finally:
        feed.stop()


def test_the_feed_reconnects_by_itself_after_losing_the_connection(db, sensor_id, client_id, publisher):
    feed = started(db, client_id)
    try:
        feed.client.socket().close()  # the link drops
        assert wait_for(lambda: not feed.connected.is_set(), 5)
        assert wait_for(feed.connected.is_set, 15)
        publisher(sensor_id, reading(0, 0.30))
        assert wait_for(lambda: stored(db, sensor_id) == 1)
    finally:
        feed.stop()


class CountingFeed(MqttFeed):
    """A feed that records the size of every unit of work it writes."""

    def write(self, batch):
        self.sizes = [*getattr(self, "sizes", []), len(batch)]
        super().write(batch)


class NeverAckingFeed(MqttFeed):
    """A feed that takes messages but never stores or acknowledges them: what the broker sends it is its window."""

    def write(self, batch):
        self.counts["held"] += len(batch)


def burst(sensor_id: str, count: int) -> None:
    """``count`` QoS 1 readings of ``sensor_id`` published at once (not one by one), acknowledged by the broker."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"burst-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(count)
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    try:
        sent = [client.publish(TOPIC_PREFIX + sensor_id, json.dumps(reading(i, 0.3)), qos=1) for i in range(count)]
        for info in sent:
            info.wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def test_the_broker_sends_more_than_its_default_window_of_20_unacknowledged_messages(client_id):
    """Issue 21: acks come only after a commit, so the window of unacknowledged messages bounds a batch. Under
    MQTT 3.1.1 Mosquitto sends 20 (``max_inflight_messages``); the feed's MQTT 5 Receive Maximum raises it."""
    feed = NeverAckingFeed(None, BROKER, client_id=client_id).start()
    try:
        assert feed.connected.wait(10)
        time.sleep(0.2)
        burst("WINDOW-1", 300)
        # at least this burst unacknowledged at once (the shared broker may add other tests' messages)
        assert wait_for(lambda: feed.counts["held"] >= 300), feed.counts
    finally:
        feed.stop()


def test_a_burst_is_stored_in_units_of_work_larger_than_20_messages_each_reading_once(db, sensor_id, client_id):
    feed = CountingFeed(db, BROKER, client_id=client_id).start()
    try:
        assert feed.connected.wait(10)
        time.sleep(0.2)
        burst(sensor_id, 600)
        assert wait_for(lambda: feed.counts["accepted"] == 600, 30), feed.counts
        assert stored(db, sensor_id) == 600 and feed.counts["duplicates"] == 0
        # The broker is shared with the tests running beside this one (another database's feed may publish
        # on the same topic), so the units of work may hold more than this burst; each reading once is
        # what ``stored`` and ``duplicates`` above say.
        assert max(feed.sizes) > 20 and sum(feed.sizes) >= 600
    finally:
        feed.stop()


def test_parse_message_takes_the_sensor_from_the_topic():
    assert parse_message("cityops/readings/S-1", b'{"ts": "x", "value": 1}') == [
        {"ts": "x", "value": 1, "sensor_id": "S-1"}
    ]
    for topic in ("cityops/readings/", "cityops/readings/a/b", "other/S-1"):
        with pytest.raises(ValueError):
            parse_message(topic, b"{}")
