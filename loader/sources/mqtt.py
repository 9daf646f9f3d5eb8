"""The MQTT source: a broker whose devices publish telemetry (`loader stream mqtt://host/topic`).
Messages are pushed, not asked for: loader/stream.py subscribes and lands each as a telemetry document.
A message is a telemetry response, or a single reading ({"metric", "time", "value"})."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from loader.errors import LoaderError
from loader.sources.base import Document
from loader.windows import Window

DEFAULT_TOPIC_FILTER = "battery/+/telemetry"


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    topic_filter: str
    username: str | None = None
    password: str | None = None
    tls: bool = False

    @property
    def uri(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    @classmethod
    def from_url(cls, url: str) -> Broker:
        """mqtt://[user:password@]host[:port]/topic/filter (mqtts:// for TLS; port 1883 or 8883)."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise LoaderError(f"{url} is not an mqtt://host:port/topic-filter URL.")
        tls = parts.scheme == "mqtts"
        topic_filter = unquote(parts.path.lstrip("/")) or DEFAULT_TOPIC_FILTER
        return cls(
            parts.hostname, parts.port or (8883 if tls else 1883), topic_filter,
            unquote(parts.username) if parts.username else None, unquote(parts.password) if parts.password else None,
            tls,
        )  # fmt: skip


def device_of(topic: str) -> str | None:
    """The topic's level that is a UUID, as the device id."""
    for level in topic.split("/"):
        try:
            return str(uuid.UUID(level))
        except ValueError:
            continue
    return None


def as_response(payload: bytes) -> bytes:
    """A single reading ({"metric", "time", "value"}) as a one-point response; anything else as it came
    (the parser judges it)."""
    if b'"series"' in payload:
        return payload
    try:
        reading = json.loads(payload)
    except ValueError:
        return payload
    if isinstance(reading, dict) and {"metric", "time", "value"} <= reading.keys():
        series = {"name": reading["metric"], "data": [[reading["time"], reading["value"]]]}
        return json.dumps({"series": [series]}, separators=(",", ":")).encode()
    return payload


class BrokerSource:
    """A broker as a source (the Source protocol of base.py): its messages are pushed to the stream, which
    lands each as a telemetry document; nothing is asked of it."""

    def __init__(self, broker: Broker) -> None:
        self.description = f"{broker.uri}/{broker.topic_filter}"
        self.lists_devices = False
        self.takes_time_ranges = False

    def assets(self) -> Iterator[Document]:
        return iter(())

    def telemetry_devices(self, device_ids: list[str] | None) -> list[str]:
        return device_ids or []

    def telemetry_documents(self, device_id: str, windows: list[Window] | None = None) -> Iterator[Document]:
        return iter(())

    def telemetry_bytes(self, device_ids: list[str]) -> int | None:
        return None

    def skipped_files(self) -> list[str]:
        return []
