"""A real HTTP server on 127.0.0.1 that serves an API directory like the vendor's API, with faults."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


class FakeApi:
    """Serves GET /assets (paged by page/pageSize, capped at `max_page_size`) and /telemetry/{id}.

    `faults[path]` is a list of statuses to answer before the real body, e.g. [503, 429];
    `hang` makes every request wait `hang_s` seconds before answering anything.
    """

    def __init__(self, root: Path, max_page_size: int = 500) -> None:
        self.root = root
        self.max_page_size = max_page_size
        self.faults: dict[str, list[int]] = defaultdict(list)
        self.hang_s = 0.0
        self.requests: list[str] = []
        self.lock = threading.Lock()

    def respond(self, raw_path: str) -> tuple[int, bytes]:
        parts = urlsplit(raw_path)
        with self.lock:
            self.requests.append(raw_path)
            if self.faults[parts.path]:
                status = self.faults[parts.path].pop(0)
                return status, json.dumps({"error": f"injected {status}"}).encode()
        if parts.path == "/assets":
            return 200, self._assets_page(parse_qs(parts.query))
        if parts.path.startswith("/telemetry/"):
            path = self.root / "telemetry" / f"{parts.path.removeprefix('/telemetry/')}.json"
            if path.is_file():
                return 200, path.read_bytes()
        return 404, b'{"error": "not found"}'

    def _assets_page(self, query: dict[str, list[str]]) -> bytes:
        everything = json.loads((self.root / "assets" / "assets.json").read_text())
        page = int(query.get("page", ["1"])[0])
        size = min(int(query.get("pageSize", [str(self.max_page_size)])[0]), self.max_page_size)
        items = everything["items"][(page - 1) * size : page * size]
        return json.dumps({"totalCount": len(everything["items"]), "items": items}).encode()


@contextmanager
def serve(api: FakeApi) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if api.hang_s:
                time.sleep(api.hang_s)
            status, body = api.respond(self.path)
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
