"""A real MQTT broker (Mosquitto from Debian's packages) on a free loopback port, restartable with its
persistent sessions kept, and a publisher for the tests and the benchmarks."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt

from harness.databases import free_port

MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto")


class BrokerUnavailable(Exception):
    pass


class Mosquitto:
    """A broker of its own: anonymous, persistent sessions saved to its folder (so a restart keeps them)."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("mosquitto") or next((path for path in MOSQUITTO_PATHS if Path(path).exists()), None)
        if binary is None:
            raise BrokerUnavailable("mosquitto not found (apt-get install mosquitto)")
        self.binary = binary
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        (folder / "mosquitto.conf").write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {folder}/\n"
            # Queue what a subscriber that is away misses, however much: nothing may be dropped.
            "max_queued_messages 0\n"
            "max_queued_bytes 0\n"
            f"log_dest file {folder}/mosquitto.log\n"
        )

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.folder / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            probe = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
            try:
                probe.connect("127.0.0.1", self.port)
                probe.disconnect()
                return
            except OSError:
                time.sleep(0.05)
        raise BrokerUnavailable(f"mosquitto did not listen on port {self.port}")

    def stop(self) -> None:
        """Stop it cleanly (it saves its sessions and queued messages)."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()


@contextmanager
def mosquitto() -> Iterator[Mosquitto]:
    folder = Path(tempfile.mkdtemp(prefix="mosquitto-"))
    # Started as root, mosquitto drops to its own user, which must still write its log and sessions here.
    folder.chmod(0o777)
    broker = Mosquitto(folder)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(folder, ignore_errors=True)


class Publisher:
    """Publishes with QoS 1 and waits until the broker has each message."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(1000)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=1)

    def publish_all(self, messages: list[tuple[str, bytes]]) -> None:
        infos = [self.publish(topic, payload) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout=60)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
