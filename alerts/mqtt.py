"""The MQTT feed: sensors publish readings to ``cityops/readings/<sensor_id>``; we store them.

Payload: ``{"ts": ISO-8601 with offset, "value": number}`` or a JSON list of such objects. The
subscription is QoS 1 on a persistent session (MQTT 5: fixed client id, no clean start, a session that
never expires), so the broker keeps what arrives while we are away; paho reconnects by itself. Messages
are acknowledged by hand, and only after the unit of work holding their readings has committed: a crash
before that gets them redelivered, and the (sensor_id, ts) uniqueness makes a redelivered reading a
duplicate, never a second count. Bad payloads are logged and acknowledged (redelivering them would never
help); ingestion never stops on them.

Bursts (issue 21): the broker sends a client only a window of unacknowledged QoS 1 messages — 20 by
Mosquitto's default for MQTT 3.1.1 — and queues 1,000 more, dropping the rest; with acks after commit that
meant a commit per ≤ 20 messages and, under a burst, messages lost (bench/RESULTS.md). Under MQTT 5 the
client sets that window itself (Receive Maximum, ``RECEIVE_MAX``: two batches, so the broker sends the
next batch while this one commits), and the writer gathers up to ``BATCH_MAX`` messages — for at most
``BATCH_WAIT_S`` after the first, and no longer than ``LINGER_S`` once nothing more is arriving — into
one unit of work. paho's network thread only hands each message over (no parsing, no lock but the
deque's): the writer thread parses a batch's JSON itself.

Several feed processes (issue 21, ``CITYOPS_MQTT_FEEDS`` > 1, ``start_feeds``): one Python process reads,
parses and acknowledges at most a few thousand messages a second on one core, so ``FeedGroup`` runs that
many feed processes, each with a client id of its own (``<client id>-1`` … ``-K``) and persistent session,
on the MQTT 5 shared subscription ``$share/<client id>/cityops/readings/+``: the broker hands each message to
one of them. Mosquitto (2.0) deals a group's messages round-robin over its sessions **including offline
ones**: what falls to a feed that is away is queued in its own session (up to the broker's
``max_queued_messages``, dropped beyond), and its unacknowledged messages go back to that session only, never
to another member. So a dead feed process is started again at once, under the same client id, and gets its
session's messages; and the sessions of other configurations (the plain ``<client id>`` of a single feed,
``-K+1`` … ``-MAX_FEEDS``) are retired when the feeds start — their queued messages stored, their
subscription dropped, their session ended — so that none keeps taking a share of the stream nobody reads.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy.exc import SQLAlchemyError

from alerts.ingest import IngestResult, ingest_readings
from data.db import Database

log = logging.getLogger(__name__)

TOPIC_PREFIX = "cityops/readings/"
TOPIC = TOPIC_PREFIX + "+"
DEFAULT_CLIENT_ID = "cityops-ingest"
#: Messages per unit of work at most; how long a batch may gather after its first message; how long the
#: writer waits for one more before committing what it has (the broker's window may be spent).
BATCH_MAX = 500
BATCH_WAIT_S = 0.2
LINGER_S = 0.002
#: Unacknowledged QoS 1 messages the broker may send us at once (MQTT 5 Receive Maximum).
RECEIVE_MAX = 2 * BATCH_MAX
#: MQTT 5 Session Expiry Interval meaning "never": the broker keeps our session and queue while we are away.
SESSION_NEVER_EXPIRES = 0xFFFFFFFF
RETRY_S = 2.0
#: Feed processes at most (``CITYOPS_MQTT_FEEDS``); the sessions of numbers up to this are retired when unused.
MAX_FEEDS = 8
#: What a feed counts; a feed process reports them (and whether it is connected) every ``REPORT_S``.
COUNT_NAMES = ("messages", "bad_messages", "accepted", "duplicates", "rejected")
REPORT_S = 0.05
#: A feed process that ended is started again, but not sooner than this after its previous start.
RELAUNCH_S = 1.0
#: A retired session is ended once no message has come for this long after its unsubscription.
RETIRE_QUIET_S = 0.5
ROOT = Path(__file__).resolve().parents[1]

#: A message as the writer takes it: (packet id, QoS, topic, payload).
Message = tuple[int, int, str, bytes]


@dataclass(frozen=True)
class BrokerAddress:
    """Where the broker is: host, port and optional credentials, from ``mqtt://[user:pass@]host[:port]``."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
            raise ValueError(f"CITYOPS_MQTT_URL must look like mqtt://host:1883, not {url!r}")
        return cls(parts.hostname, parts.port or 1883, parts.username, parts.password)


def parse_message(topic: str, payload: bytes) -> list[dict]:
    """The reading rows of one message (sensor id from the topic); raises ValueError for a bad message."""
    if not topic.startswith(TOPIC_PREFIX) or "/" in topic[len(TOPIC_PREFIX):] or topic == TOPIC_PREFIX:
        raise ValueError(f"unexpected topic {topic!r}")
    sensor_id = topic[len(TOPIC_PREFIX):]
    try:
        body = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"payload is not JSON: {exc}") from None
    items = body if isinstance(body, list) else [body]
    rows = []
    for item in items:
        # A non-object row is passed on as it is: ingestion rejects it with a reason.
        rows.append({**item, "sensor_id": sensor_id} if isinstance(item, dict) else item)
    return rows


def shared_topic(group: str) -> str:
    """The MQTT 5 shared subscription of the readings for the feeds of ``group``."""
    return f"$share/{group}/{TOPIC}"


def member_ids(client_id: str, feeds: int) -> list[str]:
    """The client ids of ``feeds`` feeds: ``client_id`` itself for one, ``client_id-1`` … ``-feeds`` for more."""
    return [client_id] if feeds == 1 else [f"{client_id}-{k}" for k in range(1, feeds + 1)]


class MqttFeed:
    """A paho client subscribed to the readings topic and a thread writing what arrives in batches.

    ``share_group``: subscribe to the shared subscription of that group instead of the topic itself.
    ``retiring``: take what the session holds, but unsubscribe (from the topic and from the group's shared
    subscription) instead of subscribing (``retire_sessions``).
    """

    def __init__(
        self,
        db: Database,
        url: str,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        batch_max: int = BATCH_MAX,
        share_group: str | None = None,
        retiring: bool = False,
    ) -> None:
        self.db = db
        self.address = BrokerAddress.parse(url)
        self.client_id = client_id
        self.batch_max = batch_max
        self.topic = shared_topic(share_group) if share_group else TOPIC
        self.retiring = retiring
        self.counts: Counter[str] = Counter()
        self.connected = threading.Event()
        self.last_arrival = time.monotonic()
        self._arrived: deque[Message] = deque()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._writer: threading.Thread | None = None
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=True
        )
        self._connect_properties = Properties(PacketTypes.CONNECT)
        self._connect_properties.SessionExpiryInterval = SESSION_NEVER_EXPIRES
        self._connect_properties.ReceiveMaximum = max(RECEIVE_MAX, 2 * batch_max)
        if self.address.username:
            self.client.username_pw_set(self.address.username, self.address.password)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    # --- paho callbacks (network thread) ---------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _data: object, _flags: object, reason: object, _p: object) -> None:
        if getattr(reason, "is_failure", False):
            log.error("mqtt: connection refused: %s", reason)
            return
        if self.retiring:
            client.unsubscribe(sorted({TOPIC, self.topic}))
        else:
            client.subscribe(self.topic, qos=1)
        self.last_arrival = time.monotonic()
        self.connected.set()
        log.info("mqtt: %s connected to %s:%s, %s %s", self.client_id, self.address.host, self.address.port,
                 "retiring its session, unsubscribed from" if self.retiring else "subscribed to", self.topic)

    def _on_disconnect(self, _client: mqtt.Client, _data: object, _flags: object, reason: object, _p: object) -> None:
        self.connected.clear()
        if not self._stopping.is_set():
            log.warning("mqtt: disconnected (%s); reconnecting", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        # Only hand over what the writer needs: the network thread is what limits the rate. Not the message
        # itself: its MQTT 5 properties are ~30 objects the garbage collector would walk again and again
        # while a batch waits (the rate fell by half when the messages were kept).
        self._arrived.append((message.mid, message.qos, message.topic, message.payload))
        if not self._wake.is_set():
            self._wake.set()

    # --- the writer thread ------------------------------------------------------------------------

    def _next_batch(self) -> list[Message]:
        """Up to ``batch_max`` messages: what arrives within ``BATCH_WAIT_S`` of the first one, ending early
        when nothing more comes for ``LINGER_S`` (the broker stops at its window of unacknowledged
        messages until we ack, so waiting longer would only stall the stream). [] when nothing came."""
        arrived, wake = self._arrived, self._wake
        if not arrived and not wake.wait(BATCH_WAIT_S):
            return []
        deadline = time.monotonic() + BATCH_WAIT_S
        batch: list[Message] = []
        while True:
            wake.clear()  # before looking: a message appended after this sets it again
            while arrived and len(batch) < self.batch_max:
                batch.append(arrived.popleft())
            if len(batch) >= self.batch_max:
                break
            wait = min(LINGER_S, deadline - time.monotonic())
            if wait <= 0 or not wake.wait(wait):
                break
        if batch:
            self.last_arrival = time.monotonic()
        return batch

    def rows_of(self, batch: Sequence[Message]) -> list:
        """The reading rows of a batch of messages; bad messages are counted, logged and left out."""
        rows: list = []
        for _, _, topic, payload in batch:
            try:
                rows += parse_message(topic, payload)
            except ValueError as exc:
                log.warning("mqtt: message on %s dropped: %s", topic, exc)
                self.counts["bad_messages"] += 1
        return rows

    def _store(self, rows: list) -> IngestResult | None:
        """Ingest ``rows`` in one unit of work, retrying while the database fails; None if stopped first."""
        while not self._stopping.is_set():
            try:
                with self.db.uow() as session:
                    return ingest_readings(session, rows)
            except SQLAlchemyError:
                log.exception("mqtt: cannot store %d readings; retrying", len(rows))
                self._stopping.wait(RETRY_S)
        return None

    def write(self, batch: list[Message]) -> None:
        """Store a batch of messages in one unit of work, then acknowledge them."""
        self.counts["messages"] += len(batch)
        rows = self.rows_of(batch)
        if rows:
            result = self._store(rows)
            if result is None:
                return  # stopping: left unacknowledged, the broker redelivers them to the next session
            self.counts["accepted"] += result.accepted
            self.counts["duplicates"] += result.duplicates
            self.counts["rejected"] += len(result.rejected)
            for rejection in result.rejected[:5]:
                log.warning("mqtt: reading rejected: %s", rejection["reason"])
        for mid, qos, _, _ in batch:
            if qos > 0:
                self.client.ack(mid, qos)

    def _run_writer(self) -> None:
        while not self._stopping.is_set():
            batch = self._next_batch()
            if batch:
                self.write(batch)

    # --- life cycle ---------------------------------------------------------------------------------

    def start(self) -> MqttFeed:
        """Connect in the background (the broker may be down: paho keeps trying) and start writing."""
        self._stopping.clear()
        self._writer = threading.Thread(target=self._run_writer, name="mqtt-writer", daemon=True)
        self._writer.start()
        self.client.connect_async(self.address.host, self.address.port, keepalive=30, clean_start=False,
                                  properties=self._connect_properties)
        self.client.loop_start()
        return self

    def quiet_for(self) -> float:
        """Seconds since a message last arrived (or since the connection); 0 while messages wait."""
        return 0.0 if self._arrived else time.monotonic() - self.last_arrival

    def wait_connected(self, timeout: float) -> bool:
        """Whether the feed is connected within ``timeout`` seconds."""
        return self.connected.wait(timeout)

    def revive(self) -> int:
        """Nothing to do: paho reconnects by itself (``FeedGroup.revive`` restarts dead processes)."""
        return 0

    def stop(self, *, end_session: bool = False) -> None:
        """Write what has arrived, then disconnect (the persistent session keeps what comes meanwhile;
        ``end_session``: the broker forgets the session and whatever it would have queued)."""
        deadline = time.monotonic() + 5.0
        while self._arrived and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stopping.set()
        self._wake.set()
        if self._writer is not None:
            self._writer.join(timeout=5.0)
        properties = None
        if end_session:
            properties = Properties(PacketTypes.DISCONNECT)
            properties.SessionExpiryInterval = 0
        self.client.disconnect(properties=properties)
        self.client.loop_stop()


def retire_sessions(
    db: Database, url: str, client_ids: Sequence[str], *, group: str, timeout: float = 10.0
) -> Counter[str]:
    """End the persistent sessions of ``client_ids`` on the broker after storing what they hold: each is
    resumed, unsubscribed from the readings (the topic and ``group``'s shared subscription), its queued
    messages stored and acknowledged as by a feed, and once nothing more comes for ``RETIRE_QUIET_S`` it
    disconnects with a session expiry of 0. A client id without a session costs a connection. Returns the
    retiring feeds' counts."""
    feeds = [MqttFeed(db, url, client_id=client_id, share_group=group, retiring=True).start()
             for client_id in client_ids]
    deadline = time.monotonic() + timeout
    counts: Counter[str] = Counter()
    for feed in feeds:
        feed.wait_connected(max(0.0, deadline - time.monotonic()))
    for feed in feeds:
        while time.monotonic() < deadline and (
            not feed.connected.is_set() or feed.quiet_for() < RETIRE_QUIET_S
        ):
            time.sleep(0.05)
        feed.stop(end_session=feed.connected.is_set())
        counts.update(feed.counts)
    if counts["messages"]:
        log.info("mqtt: retired sessions %s held %d messages (%d readings stored)", ", ".join(client_ids),
                 counts["messages"], counts["accepted"])
    return counts


# --- several feed processes --------------------------------------------------------------------------


class FeedGroup:
    """``feeds`` feed processes on one shared subscription (see the module's docstring), restarted when one
    dies, stopped together; ``counts`` adds up what they count."""

    def __init__(self, database_url: str, mqtt_url: str, *, client_id: str = DEFAULT_CLIENT_ID,
                 feeds: int = 2) -> None:
        BrokerAddress.parse(mqtt_url)  # a bad URL fails here, as MqttFeed's does
        self.database_url, self.mqtt_url, self.group = database_url, mqtt_url, client_id
        self.client_ids = [f"{client_id}-{k}" for k in range(1, feeds + 1)]
        self.processes: list[subprocess.Popen | None] = [None] * len(self.client_ids)
        self._launched = [0.0] * len(self.client_ids)
        self.restarts = 0
        self._reported: list[dict[str, int]] = [{} for _ in self.client_ids]
        self._before: Counter[str] = Counter()  # what processes that have ended counted
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def counts(self) -> Counter[str]:
        with self._lock:
            total = Counter(self._before)
            for reported in self._reported:
                total.update({name: reported.get(name, 0) for name in COUNT_NAMES})
        return total

    def member_counts(self) -> list[dict[str, int]]:
        """What each feed process has reported (its counts and ``connected``) since it last started."""
        with self._lock:
            return [dict(reported) for reported in self._reported]

    def connected_count(self) -> int:
        """How many feed processes are connected to the broker now."""
        with self._lock:
            return sum(1 for reported in self._reported if reported.get("connected"))

    def wait_connected(self, timeout: float) -> bool:
        """Whether every feed process is connected within ``timeout`` seconds (start-up takes a second or two)."""
        deadline = time.monotonic() + timeout
        while self.connected_count() < len(self.client_ids):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _launch(self, slot: int) -> None:
        # In this process's folder (a relative SQLite path means the same file), with the code's on the path.
        code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from alerts.mqtt import feed_process_main; " \
               "feed_process_main()"
        process = subprocess.Popen([sys.executable, "-c", code],  # noqa: S603 (our own interpreter and code)
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        config = {"database_url": self.database_url, "mqtt_url": self.mqtt_url,
                  "client_id": self.client_ids[slot], "group": self.group}
        process.stdin.write(json.dumps(config) + "\n")  # the URLs may hold passwords: not in argv or env
        process.stdin.flush()
        self.processes[slot] = process
        self._launched[slot] = time.monotonic()
        threading.Thread(target=self._read_reports, args=(slot, process), daemon=True,
                         name=f"mqtt-feed-{slot + 1}-reports").start()

    def _read_reports(self, slot: int, process: subprocess.Popen) -> None:
        for line in process.stdout:
            try:
                reported = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                if self.processes[slot] is process:  # not a late line of a process already replaced
                    self._reported[slot] = reported
        process.stdout.close()

    def start(self) -> FeedGroup:
        """Start every feed process and the thread that restarts one that dies."""
        self._stopping.clear()
        for slot in range(len(self.client_ids)):
            self._launch(slot)
        self._watcher = threading.Thread(target=self._watch, name="mqtt-feeds", daemon=True)
        self._watcher.start()
        return self

    def _watch(self) -> None:
        while not self._stopping.wait(0.2):
            self.revive()

    def revive(self) -> int:
        """Start again each feed process that has ended (under its client id: its session's messages come to
        it); returns how many."""
        revived = 0
        for slot, process in enumerate(self.processes):
            if self._stopping.is_set() or process is None or process.poll() is None:
                continue
            if time.monotonic() - self._launched[slot] < RELAUNCH_S:
                continue  # one that cannot start (no database?) is tried again once a second, not in a loop
            log.warning("mqtt: feed %s ended (exit %s); starting it again", self.client_ids[slot],
                        process.returncode)
            with suppress(OSError):
                process.stdin.close()
            with self._lock:
                self._before.update({name: self._reported[slot].get(name, 0) for name in COUNT_NAMES})
                self._reported[slot] = {}
                self.processes[slot] = None
            self._launch(slot)
            self.restarts += 1
            revived += 1
        return revived

    def stop(self) -> None:
        """Stop every feed process: each writes what it has, then disconnects (its session stays)."""
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5.0)
        for process in self.processes:
            if process is not None:
                with suppress(OSError):
                    process.stdin.close()  # end of input: the process stops
        for slot, process in enumerate(self.processes):
            if process is None:
                continue
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                log.error("mqtt: feed %s did not stop; killed", self.client_ids[slot])
                process.kill()
                process.wait(5)


def feed_process_main() -> None:
    """A feed process of a ``FeedGroup``: its configuration is the first line of stdin (JSON), it reports its
    counts on stdout as JSON lines, and it stops at the end of stdin — when the group stops it, or when the
    process that started it is gone, however it ended — or on SIGTERM."""
    config = json.loads(sys.stdin.readline())
    client_id = config["client_id"]
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s %(levelname)s [{client_id} {os.getpid()}] %(name)s: %(message)s")
    stopping = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    threading.Thread(target=lambda: (sys.stdin.read(), stopping.set()), daemon=True, name="stdin").start()
    db = Database(config["database_url"])
    gc.freeze()  # what start-up made lives as long as the process: the collector need not walk it again
    feed = MqttFeed(db, config["mqtt_url"], client_id=client_id, share_group=config["group"]).start()

    def report() -> None:
        print(json.dumps({**{name: feed.counts[name] for name in COUNT_NAMES},
                          "connected": feed.connected.is_set()}), flush=True)

    try:
        while not stopping.wait(REPORT_S):
            report()
    finally:
        feed.stop()
        report()
        db.dispose()


def start_feeds(db: Database, url: str, *, client_id: str = DEFAULT_CLIENT_ID, feeds: int = 1) -> MqttFeed | FeedGroup:
    """The MQTT feed as configured: one ``MqttFeed`` in this process on ``client_id`` (``feeds`` 1), or a
    ``FeedGroup`` of ``feeds`` processes; the sessions of the other configuration (up to ``MAX_FEEDS``) are
    retired first, so none of them keeps a share of the stream."""
    if not 1 <= feeds <= MAX_FEEDS:
        raise ValueError(f"CITYOPS_MQTT_FEEDS must lie in 1…{MAX_FEEDS}, not {feeds}")
    BrokerAddress.parse(url)
    members = member_ids(client_id, feeds)
    retire_sessions(db, url, [cid for cid in member_ids(client_id, 1) + member_ids(client_id, MAX_FEEDS)
                              if cid not in members], group=client_id)
    if feeds == 1:
        return MqttFeed(db, url, client_id=client_id).start()
    return FeedGroup(db.url, url, client_id=client_id, feeds=feeds).start()
