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
one unit of work.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass
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


class MqttFeed:
    """A paho client subscribed to the readings topic and a thread writing what arrives in batches."""

    def __init__(
        self,
        db: Database,
        url: str,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        batch_max: int = BATCH_MAX,
    ) -> None:
        self.db = db
        self.address = BrokerAddress.parse(url)
        self.batch_max = batch_max
        self.counts: Counter[str] = Counter()
        self.connected = threading.Event()
        self._queue: queue.Queue[tuple[int, int, list]] = queue.Queue()
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
        client.subscribe(TOPIC, qos=1)
        self.connected.set()
        log.info("mqtt: connected to %s:%s, subscribed to %s", self.address.host, self.address.port, TOPIC)

    def _on_disconnect(self, _client: mqtt.Client, _data: object, _flags: object, reason: object, _p: object) -> None:
        self.connected.clear()
        if not self._stopping.is_set():
            log.warning("mqtt: disconnected (%s); reconnecting", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        self.counts["messages"] += 1
        try:
            rows = parse_message(message.topic, message.payload)
        except ValueError as exc:
            log.warning("mqtt: message on %s dropped: %s", message.topic, exc)
            self.counts["bad_messages"] += 1
            rows = []
        self._queue.put((message.mid, message.qos, rows))

    # --- the writer thread ------------------------------------------------------------------------

    def _next_batch(self) -> list[tuple[int, int, list]]:
        """Up to ``batch_max`` messages: what arrives within ``BATCH_WAIT_S`` of the first one, ending early
        when nothing more comes for ``LINGER_S`` (the broker stops at its window of unacknowledged
        messages until we ack, so waiting longer would only stall the stream). [] when nothing came."""
        try:
            batch = [self._queue.get(timeout=BATCH_WAIT_S)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + BATCH_WAIT_S
        while len(batch) < self.batch_max:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            wait = min(LINGER_S, deadline - time.monotonic())
            if wait <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=wait))
            except queue.Empty:
                break
        return batch

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

    def write(self, batch: list[tuple[int, int, list]]) -> None:
        """Store a batch of messages in one unit of work, then acknowledge them."""
        rows = [row for _, _, message_rows in batch for row in message_rows]
        if rows:
            result = self._store(rows)
            if result is None:
                return  # stopping: left unacknowledged, the broker redelivers them to the next session
            self.counts["accepted"] += result.accepted
            self.counts["duplicates"] += result.duplicates
            self.counts["rejected"] += len(result.rejected)
            for rejection in result.rejected[:5]:
                log.warning("mqtt: reading rejected: %s", rejection["reason"])
        for mid, qos, _ in batch:
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

    def stop(self) -> None:
        """Write what has arrived, then disconnect (the persistent session keeps what comes meanwhile)."""
        deadline = time.monotonic() + 5.0
        while not self._queue.empty() and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stopping.set()
        if self._writer is not None:
            self._writer.join(timeout=5.0)
        self.client.disconnect()
        self.client.loop_stop()
