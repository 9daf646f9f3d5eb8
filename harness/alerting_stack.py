"""A real alerting stack on 127.0.0.1, from Debian's packages: prometheus-postgres-exporter running the
project's exporter queries, Prometheus scraping it every second and evaluating the project's rules,
and Alertmanager receiving the alerts. Configuration and data live in a temporary directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.databases import free_port
from loader.settings import ConnectionSettings

ALERTING = Path(__file__).resolve().parents[1] / "alerting"
BINARIES = {
    "exporter": "prometheus-postgres-exporter",
    "prometheus": "prometheus",
    "alertmanager": "prometheus-alertmanager",
}


class StackUnavailable(Exception):
    """A binary of the stack is missing, or a part did not come up."""


@dataclass(frozen=True)
class AlertingStack:
    alertmanager_url: str
    prometheus_url: str

    def active_alerts(self, name: str | None = None) -> list[dict]:
        with urllib.request.urlopen(f"{self.alertmanager_url}/api/v2/alerts?active=true", timeout=5) as response:
            alerts = json.load(response)
        return [alert for alert in alerts if name is None or alert["labels"].get("alertname") == name]


def _wait_ready(url: str, process: subprocess.Popen, what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackUnavailable(f"{what} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise StackUnavailable(f"{what} did not answer on {url} within {timeout_s:.0f} s")


@contextmanager
def alerting_stack(database: ConnectionSettings, folder: Path, interval_s: float = 1.0) -> Iterator[AlertingStack]:
    missing = [binary for binary in BINARIES.values() if shutil.which(binary) is None]
    if missing:
        raise StackUnavailable(f"missing {', '.join(missing)} (apt-get install {' '.join(missing)})")
    folder.mkdir(parents=True, exist_ok=True)
    ports = {part: free_port() for part in BINARIES}
    shutil.copyfile(ALERTING / "prometheus_rules.yml", folder / "prometheus_rules.yml")
    (folder / "alertmanager.yml").write_text(
        "route:\n  receiver: nobody\n  group_wait: 0s\nreceivers:\n  - name: nobody\n"
    )
    (folder / "prometheus.yml").write_text(
        f"global:\n  scrape_interval: {int(interval_s * 1000)}ms\n  evaluation_interval: {int(interval_s * 1000)}ms\n"
        "rule_files:\n  - prometheus_rules.yml\n"
        f"scrape_configs:\n  - job_name: battery\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{ports['exporter']}']\n"
        f"alerting:\n  alertmanagers:\n    - static_configs:\n"
        f"        - targets: ['127.0.0.1:{ports['alertmanager']}']\n"
    )
    dsn = (
        f"postgresql://{database.user}:{database.password}@{database.host}:{database.port}/{database.dbname}"
        "?sslmode=disable"
    )
    log = (folder / "stack.log").open("ab")
    commands = {
        "alertmanager": [
            BINARIES["alertmanager"], f"--config.file={folder / 'alertmanager.yml'}",
            f"--storage.path={folder / 'alertmanager'}", f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
            "--cluster.listen-address=",
        ],
        "exporter": [
            BINARIES["exporter"], f"--web.listen-address=127.0.0.1:{ports['exporter']}",
            f"--extend.query-path={ALERTING / 'postgres_exporter_queries.yaml'}",
            # Only the project's queries: the exporter's own collectors add a second connection,
            # which intermittently hung /metrics on the embedded database's shared session.
            "--disable-default-metrics", "--disable-settings-metrics", "--no-collector.bgwriter",
            "--no-collector.database",
        ],
        "prometheus": [
            BINARIES["prometheus"], f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'prometheus'}", f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
        ],
    }  # fmt: skip
    processes: dict[str, subprocess.Popen] = {}
    try:
        for part, command in commands.items():
            env = {**os.environ, "DATA_SOURCE_NAME": dsn} if part == "exporter" else None
            processes[part] = subprocess.Popen(command, stdout=log, stderr=log, env=env, cwd=folder)
        _wait_ready(f"http://127.0.0.1:{ports['alertmanager']}/-/ready", processes["alertmanager"], "Alertmanager")
        _wait_ready(f"http://127.0.0.1:{ports['exporter']}/metrics", processes["exporter"], "postgres exporter")
        _wait_ready(f"http://127.0.0.1:{ports['prometheus']}/-/ready", processes["prometheus"], "Prometheus")
        yield AlertingStack(f"http://127.0.0.1:{ports['alertmanager']}", f"http://127.0.0.1:{ports['prometheus']}")
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()
