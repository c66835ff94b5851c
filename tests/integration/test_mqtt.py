"""The MQTT feed against the real Mosquitto at 127.0.0.1:1883: QoS 1, persistent session, reconnect,
a redelivered message never counted twice; several feed processes on a shared subscription (issue 21): the
messages spread over them, each stored once, a dead one started again without loss, and the broker's
semantics the design relies on (a member's share queued in its own session while it is away)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from alerts.mqtt import TOPIC_PREFIX, FeedGroup, MqttFeed, parse_message, start_feeds
from alerts.scheduler import SchedulerHandle, acquire_lease
from data.models import Reading, Sensor
from settings import get_settings
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
        rows = self.rows_of(batch)
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


# --- several feeds on a shared subscription (issue 21) -------------------------------------------------


@pytest.fixture
def group():
    """A group name of its own; the sessions of its members (and of the plain client id) are discarded after."""
    name = f"cityops-test-{uuid.uuid4().hex[:8]}"
    yield name
    for client_id in [name, *(f"{name}-{k}" for k in range(1, 9))]:
        discard_mqtt_session(BROKER, client_id)


def burst_readings(sensor_id: str, first: int, count: int) -> None:
    """``count`` QoS 1 readings ``first`` … of ``sensor_id`` published at once, each acknowledged by the broker."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"burst-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(count)
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    try:
        sent = [client.publish(TOPIC_PREFIX + sensor_id, json.dumps(reading(i, 0.3)), qos=1)
                for i in range(first, first + count)]
        for info in sent:
            info.wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_shared_subscription_spreads_the_messages_over_the_feed_processes_each_stored_once(db, sensor_id, group):
    feeds = FeedGroup(db.url, BROKER, client_id=group, feeds=2).start()
    try:
        assert feeds.wait_connected(60), feeds.member_counts()
        time.sleep(0.3)  # the SUBACKs
        burst_readings(sensor_id, 0, 400)
        assert wait_for(lambda: stored(db, sensor_id) == 400, 30)
        assert wait_for(lambda: feeds.counts["accepted"] == 400, 5), feeds.counts
        assert feeds.counts["duplicates"] == 0
        members = feeds.member_counts()
        assert all(member["accepted"] > 0 for member in members), members  # both took a share
    finally:
        feeds.stop()
    assert all(process.poll() is not None for process in feeds.processes)


def test_a_feed_process_killed_mid_stream_is_started_again_and_nothing_is_lost_or_doubled(db, sensor_id, group):
    feeds = FeedGroup(db.url, BROKER, client_id=group, feeds=2).start()
    try:
        assert feeds.wait_connected(60)
        time.sleep(0.3)
        publishing = threading.Thread(target=burst_readings, args=(sensor_id, 0, 1000))
        publishing.start()
        assert wait_for(lambda: stored(db, sensor_id) >= 100, 30)
        victim = feeds.processes[0]
        victim.kill()  # SIGKILL mid-stream: what it holds unacknowledged stays in its session on the broker,
        publishing.join(30)  # and a share of what comes next is queued there
        assert wait_for(lambda: feeds.restarts >= 1, 10)
        assert feeds.processes[0] is not victim
        # Every reading stored (once: unique by sensor and time); a message the victim had stored but not
        # acknowledged came back to its successor as a duplicate, never as a second reading.
        assert wait_for(lambda: stored(db, sensor_id) == 1000, 60), stored(db, sensor_id)
        assert feeds.counts["accepted"] <= 1000  # (the victim's last counts may not have been reported)
    finally:
        feeds.stop()


def test_mosquitto_queues_an_absent_members_share_in_its_own_session(db, sensor_id, group):
    """What the design relies on (Mosquitto 2.0): a shared subscription deals messages round-robin over its
    members' sessions, absent ones included; the share of an absent member waits in its session (it never goes
    to the member that is there) and comes when that client id connects again."""
    present = MqttFeed(db, BROKER, client_id=f"{group}-1", share_group=group).start()
    absent = MqttFeed(db, BROKER, client_id=f"{group}-2", share_group=group).start()
    try:
        assert present.wait_connected(10) and absent.wait_connected(10)
        time.sleep(0.3)
        absent.stop()  # its persistent session stays, subscribed
        burst_readings(sensor_id, 0, 20)
        assert wait_for(lambda: present.counts["accepted"] > 0, 10)
        time.sleep(1.0)
        assert 0 < present.counts["accepted"] < 20 and stored(db, sensor_id) == present.counts["accepted"]
        back = MqttFeed(db, BROKER, client_id=f"{group}-2", share_group=group).start()
        try:
            assert wait_for(lambda: stored(db, sensor_id) == 20, 10)
            assert back.counts["accepted"] == 20 - present.counts["accepted"]
        finally:
            back.stop()
    finally:
        present.stop()


def test_fewer_feeds_retire_the_sessions_of_the_others_with_what_they_hold(db, sensor_id, group):
    """Going from 2 feed processes to 1: the members' sessions are retired (their queued messages stored,
    their subscription ended), so no share of the stream goes to a session nobody reads any more."""
    feeds = start_feeds(db, BROKER, client_id=group, feeds=2)
    assert feeds.wait_connected(60)
    time.sleep(0.3)
    feeds.stop()  # both sessions stay subscribed: what comes now is queued in them
    burst_readings(sensor_id, 0, 40)
    single = start_feeds(db, BROKER, client_id=group, feeds=1)
    try:
        assert wait_for(lambda: stored(db, sensor_id) == 40, 10)  # the retired sessions' messages
        assert single.wait_connected(10)
        time.sleep(0.3)
        burst_readings(sensor_id, 40, 40)
        assert wait_for(lambda: single.counts["accepted"] == 40, 10), single.counts  # all of them, no share lost
        assert stored(db, sensor_id) == 80
    finally:
        single.stop()


def test_the_feed_processes_run_only_while_the_scheduler_holds_the_lease(db, group, monkeypatch):
    monkeypatch.setenv("CITYOPS_MQTT_FEEDS", "2")
    monkeypatch.setenv("CITYOPS_MQTT_CLIENT_ID", group)
    get_settings.cache_clear()
    handle = SchedulerHandle(db, "holder-a", simulator=None, mqtt_url=BROKER)
    try:
        assert handle.heartbeat()
        assert isinstance(handle.feed, FeedGroup) and handle.feed.wait_connected(60)
        assert handle.feed.client_ids == [f"{group}-1", f"{group}-2"]
        processes = list(handle.feed.processes)
        with db.uow() as s:  # the lease expires and another worker takes it
            assert acquire_lease(s, "holder-b", datetime.now(UTC) + timedelta(minutes=5))
        assert not handle.heartbeat()
        assert handle.feed is None and all(process.poll() is not None for process in processes)
    finally:
        handle._follow_lease(False)
        get_settings.cache_clear()


def test_the_feed_processes_stop_when_the_process_that_started_them_is_killed(db, group, tmp_path):
    """A worker killed with SIGKILL cannot stop its feed processes: they stop at the end of their stdin."""
    script = tmp_path / "worker.py"
    script.write_text(
        "import sys, time\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})\n"
        "from alerts.mqtt import FeedGroup\n"
        f"feeds = FeedGroup({db.url!r}, {BROKER!r}, client_id={group!r}, feeds=2).start()\n"
        "assert feeds.wait_connected(60)\n"
        "print(' '.join(str(p.pid) for p in feeds.processes), flush=True)\n"
        "time.sleep(600)\n"
    )
    worker = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(pid) for pid in worker.stdout.readline().split()]
        assert len(pids) == 2 and all(alive(pid) for pid in pids)
    finally:
        worker.kill()
        worker.wait(10)
    assert wait_for(lambda: not any(alive(pid) for pid in pids), 20), pids


def alive(pid: int) -> bool:
    """Whether process ``pid`` is still running (not a zombie: its parent is gone, so init reaps it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
