"""`loader stream mqtt://HOST:PORT/TOPIC-FILTER`: land what the fleet publishes to an MQTT broker.

Messages are landed raw in micro-batches: a batch is committed when it holds `batch_size` messages or
its first message is `batch_seconds` old, in one transaction that also updates `raw.latest_readings`
(so the low-SoC alert sees a streamed reading as soon as its batch commits) and adds the batch's
counts to the stream's row in `raw.load_log`. Each message is landed like a response (pieces by
content hash, its series' points verbatim, lineage: broker and topic in `source_uri`, the time the
message arrived in `received_at`); a message that cannot land is quarantined with its topic and reason
inside the same batch (a savepoint), and the stream goes on.

Nothing lost, nothing twice: the subscription is QoS 1 on a persistent session (MQTT 5, a fixed client
id, a session that outlives the connection), and a message is acknowledged to the broker only after
its batch committed. A broker that restarts or a connection that drops is reconnected with backoff,
and the broker sends again what was not acknowledged; the loader killed mid-batch is sent it again
when it comes back. What was landed already is recognised by its pieces' content hashes and lands
nothing. The first Ctrl-C or SIGTERM commits the batch under way and stops.

Message formats, as JSON, the device id being the topic level that is a UUID
(e.g. `battery/<deviceId>/telemetry`):

    {"series": [{"name": "StateOfChargePercentage", "data": [[1767225600000, 18.5], ...]}, ...]}
    {"metric": "StateOfChargePercentage", "time": 1767225600000, "value": 18.5}     (one reading)
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from loader.archive import ArchivePolicy, ArchiveResult, archive_after_load
from loader.compaction import CompactionResult, compact_after_load
from loader.errors import LoaderError
from loader.job_locks import embedded_turn
from loader.landing import LandingRun, LoadOptions, LoadSummary, Progress, Rejection, load_session, sha256_file
from loader.settings import ConnectionSettings
from loader.sources import Document
from loader.sources.mqtt import Broker, BrokerSource, as_response, device_of

# A persistent session outlives the loader for this long: messages published meanwhile wait for it.
SESSION_EXPIRY_S = 7 * 24 * 3600
RECONNECT_DELAYS_S = (1, 30)


@dataclass
class StreamOptions:
    batch_size: int = 500
    batch_seconds: float = 1.0
    client_id: str = f"battery-telemetry-loader-{socket.gethostname()}"
    load: LoadOptions | None = None
    # Stop once no message came for this long (drain what the broker kept, then exit); None: never.
    exit_when_idle_s: float | None = None
    # Compact raw (loader/compaction.py), then archive it (loader/archive.py), at the start and every
    # compact_every_s: None = never.
    compact_after_ms: int | None = None
    archive: ArchivePolicy | None = None
    compact_every_s: float = 3600.0


@dataclass
class Message:
    topic: str
    payload: bytes
    received_at: datetime
    mid: int
    qos: int


class Stream:
    """A subscription whose messages land in batches; `run()` until `stop` is set."""

    def __init__(
        self,
        settings: ConnectionSettings,
        broker: Broker,
        options: StreamOptions,
        stop: threading.Event,
        on_batch: Callable[[LoadSummary, int], None] | None = None,
        progress: Progress | None = None,
        on_compaction: Callable[[CompactionResult | str], None] | None = None,
        on_archive: Callable[[ArchiveResult | str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.broker = broker
        self.options = options
        self.stop = stop
        self.on_batch = on_batch or (lambda summary, messages: None)
        self.on_compaction = on_compaction or (lambda result: None)
        self.on_archive = on_archive or (lambda result: None)
        self.progress = progress or Progress()
        self.inbox: queue.Queue[Message] = queue.Queue()
        self.connected = threading.Event()
        self.problem: str | None = None
        self.client = self._client()

    def _client(self) -> mqtt.Client:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=self.options.client_id, protocol=mqtt.MQTTv5, manual_ack=True
        )
        if self.broker.username:
            client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            client.tls_set()
        client.reconnect_delay_set(*RECONNECT_DELAYS_S)
        # Room for a whole batch of unacknowledged messages (the broker sends no more than this).
        client.max_inflight_messages_set(min(65535, 2 * self.options.batch_size))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self.problem = f"the broker refused the connection ({reason})"
            return
        self.problem = None
        if not flags.session_present:
            client.subscribe(self.broker.topic_filter, qos=1)
        self.connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self.connected.clear()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.inbox.put(Message(message.topic, message.payload, datetime.now(UTC), message.mid, message.qos))

    def _connect(self) -> None:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        properties.ReceiveMaximum = min(65535, 2 * self.options.batch_size)
        try:
            self.client.connect(self.broker.host, self.broker.port, clean_start=False, properties=properties)
        except OSError as error:
            raise LoaderError(f"Cannot reach the MQTT broker {self.broker.uri}: {error.strerror or error}.") from None
        self.client.loop_start()
        if not self.connected.wait(15) and self.problem is None:
            self.problem = "no answer to the connection within 15 s"
        if self.problem:
            self.client.loop_stop()
            raise LoaderError(f"Cannot stream from {self.broker.uri}: {self.problem}.")

    def run(self) -> LoadSummary:
        options = self.options.load or LoadOptions()
        source = BrokerSource(self.broker)
        # The embedded server's turn is taken per batch, so loads and builds run between batches.
        with load_session(self.settings, source, options, self.progress, "stream", hold_turn=False) as session:
            run = LandingRun(session.sink, source, options, session.summary, self.progress)
            try:
                self._connect()
                last_message = time.monotonic()
                upkept_at: float | None = None
                while not self.stop.is_set():
                    if self._upkeep_due(upkept_at):
                        self._upkeep(options.raw_schema)  # takes the embedded server's turn itself
                        upkept_at = time.monotonic()
                    batch = self._next_batch()
                    if batch:
                        with embedded_turn(self.settings, session.shared_session, self.progress.waiting):
                            self._land(run, batch)
                        last_message = time.monotonic()  # idle from when the broker may send again
                    elif self._idle_too_long(last_message):
                        break
            finally:
                # Unacknowledged, a batch under way is sent again when the stream is back.
                self.client.disconnect()
                self.client.loop_stop()
        return session.summary

    def _upkeep_due(self, upkept_at: float | None) -> bool:
        if self.options.compact_after_ms is None and self.options.archive is None:
            return False
        return upkept_at is None or time.monotonic() - upkept_at >= self.options.compact_every_s

    def _upkeep(self, raw_schema: str) -> None:
        """Merge, then archive, what is due; a failure is reported and the stream goes on (the next one
        tries again)."""
        if self.options.compact_after_ms is not None:
            self.on_compaction(
                compact_after_load(self.settings, raw_schema, self.options.compact_after_ms,
                                   on_wait=self.progress.waiting)
            )  # fmt: skip
        if self.options.archive is not None:
            self.on_archive(archive_after_load(self.settings, raw_schema, self.options.archive, self.progress.waiting))

    def _idle_too_long(self, last_message: float) -> bool:
        idle_s = self.options.exit_when_idle_s
        return idle_s is not None and time.monotonic() - last_message >= idle_s

    def _next_batch(self) -> list[Message]:
        """Messages until the batch is full or its first one is batch_seconds old (or stop is set)."""
        try:
            first = self.inbox.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.options.batch_seconds
        while len(batch) < self.options.batch_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(self.inbox.get(timeout=min(remaining, 0.05) if self.stop.is_set() else remaining))
            except queue.Empty:
                if self.stop.is_set():
                    break
        return batch

    def _land(self, run: LandingRun, batch: list[Message]) -> None:
        """Land a batch in one transaction (one savepoint a message), then acknowledge it."""
        with run.sink.connection.transaction():
            run.sink.counts_deferred = True
            for message in batch:
                document = Document(
                    f"{self.broker.uri}/{message.topic}", "telemetry", None, len(message.payload),
                    device_id=device_of(message.topic), content=as_response(message.payload),
                    received_at=message.received_at, ledgered=False,
                )  # fmt: skip
                if document.device_id is None:
                    run.summary.files_seen += 1
                    run.reject_file(
                        document,
                        Rejection(document.uri, f"topic {message.topic!r} names no device id (a UUID level)"),
                        message.payload, len(message.payload), sha256_file(document),
                    )  # fmt: skip
                    continue
                run.land_document(document)
            run.sink.counts_deferred = False
            run.sink.record_counts(run.summary)
        for message in batch:
            if message.qos:
                self.client.ack(message.mid, message.qos)
        self.on_batch(run.summary, len(batch))
