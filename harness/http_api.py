"""A real HTTP server on 127.0.0.1 that serves an API directory like the vendor's API (honouring its time range), with
faults, for the tests and the benchmarks."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


class FakeApi:
    """Serves GET /assets (paged by page/pageSize, capped at `max_page_size`) and /telemetry/{id}.

    `faults[path]` is a list of statuses to answer before the real body, e.g. [503, 429];
    `hang` makes every request wait `hang_s` seconds before answering anything.
    """

    def __init__(
        self, root: Path, max_page_size: int = 500, range_params: tuple[str, str] = ("from", "to"),
        time_format: str = "epoch-ms",
    ) -> None:  # fmt: skip
        self.root = root
        self.max_page_size = max_page_size
        self.range_params = range_params
        self.time_format = time_format
        self.faults: dict[str, list[int]] = defaultdict(list)
        self.hang_s = 0.0
        self.requests: list[str] = []
        self.bytes_sent = 0
        self.lock = threading.Lock()
        self._parsed: dict[Path, tuple[tuple[int, int], bytes, dict]] = {}

    def respond(self, raw_path: str) -> tuple[int, bytes]:
        parts = urlsplit(raw_path)
        with self.lock:
            if self.faults[parts.path]:
                status = self.faults[parts.path].pop(0)
                return status, json.dumps({"error": f"injected {status}"}).encode()
        if parts.path == "/assets":
            return 200, self._assets_page(parse_qs(parts.query))
        if parts.path.startswith("/telemetry/"):
            path = self.root / "telemetry" / f"{parts.path.removeprefix('/telemetry/')}.json"
            if path.is_file():
                return 200, self._telemetry_in_range(path, parse_qs(parts.query))
        return 404, b'{"error": "not found"}'

    def _telemetry_in_range(self, path: Path, query: dict[str, list[str]]) -> bytes:
        """The response with only the readings from <= time < to, as the vendor's time range asks."""
        low, high = (self._time(query.get(name, [None])[0]) for name in self.range_params)
        body, response = self._telemetry_file(path)
        if low is None and high is None:
            return body
        kept_all = True
        series_kept = []
        for series in response["series"]:
            kept = [point for point in series["data"] if _in_range(point, low, high)]
            kept_all = kept_all and len(kept) == len(series["data"])
            series_kept.append({**series, "data": kept})
        return body if kept_all else json.dumps({**response, "series": series_kept}, separators=(",", ":")).encode()

    def _telemetry_file(self, path: Path) -> tuple[bytes, dict]:
        """A device's file and its parsed form, parsed once while it is unchanged (a backfill asks for
        many windows of one file: the server, not the loader, would be what a benchmark measures)."""
        stat = path.stat()
        version = (stat.st_mtime_ns, stat.st_size)
        with self.lock:
            cached = self._parsed.get(path)
        if cached is not None and cached[0] == version:
            return cached[1], cached[2]
        body = path.read_bytes()
        response = json.loads(body)
        with self.lock:
            self._parsed[path] = (version, body, response)
        return body, response

    def _time(self, text: str | None) -> int | None:
        if text is None:
            return None
        if self.time_format == "iso8601":
            return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
        return int(text)

    def _assets_page(self, query: dict[str, list[str]]) -> bytes:
        everything = json.loads((self.root / "assets" / "assets.json").read_text())
        page = int(query.get("page", ["1"])[0])
        size = min(int(query.get("pageSize", [str(self.max_page_size)])[0]), self.max_page_size)
        items = everything["items"][(page - 1) * size : page * size]
        return json.dumps({"totalCount": len(everything["items"]), "items": items}).encode()


def _in_range(point: object, low: int | None, high: int | None) -> bool:
    """low <= time < high; a point without a numeric time cannot be placed: only a request from the
    beginning gets it."""
    recorded_ms = point[0] if isinstance(point, list) and point else None
    if not isinstance(recorded_ms, int):
        return low is None
    return (low is None or recorded_ms >= low) and (high is None or recorded_ms < high)


def telemetry_requests(api: FakeApi, device_id: str = "") -> list[str]:
    """The telemetry requests the API answered (of one device, if given), with their queries."""
    return [request for request in api.requests if request.startswith(f"/telemetry/{device_id}")]


@contextmanager
def serve(api: FakeApi) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with api.lock:
                api.requests.append(self.path)
            if api.hang_s:
                time.sleep(api.hang_s)
            status, body = api.respond(self.path)
            with api.lock:
                api.bytes_sent += len(body)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        api.hang_s = 0
        server.shutdown()
        server.server_close()
