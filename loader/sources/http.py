"""The HTTP source: the vendor's REST API. Bodies are streamed to a temporary file first, which lets a
failed download be retried cleanly and the body be hashed before it is parsed."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode, urljoin, urlsplit

import requests

from loader.errors import LoaderError
from loader.sources.base import DOWNLOAD_BLOCK, AssetsOrTelemetry, Document, MissingDocument
from loader.windows import Window

TimeFormat = Literal["epoch-ms", "iso8601"]
TIME_FORMATS: tuple[TimeFormat, ...] = ("epoch-ms", "iso8601")
RETRY_STATUSES = {429, 500, 502, 503, 504}


class RateLimit:
    """At most `per_second` requests a second across every thread that shares it (None: no limit)."""

    def __init__(self, per_second: float | None) -> None:
        self.interval_s = 1.0 / per_second if per_second else 0.0
        self._next_s = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval_s:
            return
        with self._lock:
            now = time.monotonic()
            turn = max(now, self._next_s)
            self._next_s = turn + self.interval_s
        if turn > now:
            time.sleep(turn - now)


@dataclass(frozen=True)
class HttpSettings:
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0
    max_attempts: int = 5
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    page_size: int = 500
    token: str | None = None
    # The query parameters that ask for readings in [from, to), or None for an API without them.
    range_params: tuple[str, str] | None = ("from", "to")
    time_format: TimeFormat = "epoch-ms"
    max_requests_per_second: float | None = None


class HttpSource:
    """The vendor's REST API: `GET {base}/assets` (paged) and `GET {base}/telemetry/{deviceId}`."""

    def __init__(
        self, base_url: str, settings: HttpSettings | None = None, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise LoaderError(f"Source {base_url} is neither a directory nor an http(s) URL.")
        self.base_url = base_url.rstrip("/") + "/"
        self.description = base_url
        self.lists_devices = False
        self.settings = settings or HttpSettings(token=os.environ.get("LOADER_API_TOKEN"))
        self._sleep = sleep
        self._rate_limit = RateLimit(self.settings.max_requests_per_second)
        self._sessions = threading.local()

    @property
    def _session(self) -> requests.Session:
        """One HTTP session per thread: the loader's workers share the source, not a connection pool."""
        session: requests.Session | None = getattr(self._sessions, "session", None)
        if session is None:
            session = self._sessions.session = requests.Session()
            session.headers["Accept"] = "application/json"
            if self.settings.token:
                session.headers["Authorization"] = f"Bearer {self.settings.token}"
        return session

    def assets(self) -> Iterator[Document]:
        """Every page of the assets list, following `totalCount` until all items have come.

        Asks for `page=1&pageSize=N`; later pages use the size the server actually returned, so a
        server that caps or ignores pageSize still pages consistently.
        """
        seen = 0
        page_number = 1
        page_size = self.settings.page_size
        while True:
            query = urlencode({"page": page_number, "pageSize": page_size})
            document = self._download(urljoin(self.base_url, "assets") + f"?{query}", "assets")
            document.page_number = page_number
            items, total = _peek_assets_page(document.local_path())
            yield document
            seen += items
            if total is None or items == 0 or seen >= total:
                return
            if page_number == 1:
                page_size = items
            page_number += 1

    def telemetry_devices(self, device_ids: list[str] | None) -> list[str]:
        if device_ids is None:
            raise LoaderError("An HTTP source cannot list devices by itself; devices come from its assets.")
        return device_ids

    @property
    def takes_time_ranges(self) -> bool:
        return self.settings.range_params is not None

    def telemetry_documents(self, device_id: str, windows: list[Window] | None = None) -> Iterator[Document]:
        """One response per window, fetched as the caller gets to it (without windows: the whole history)."""
        planned: list[Window | None] = list(windows) if windows is not None else [None]
        for window in planned:
            yield self.fetch_telemetry(device_id, window)

    def telemetry_bytes(self, device_ids: list[str]) -> int | None:
        return None

    def skipped_files(self) -> list[str]:
        return []

    def fetch_telemetry(self, device_id: str, window: Window | None = None) -> Document:
        url = urljoin(self.base_url, f"telemetry/{device_id}")
        if window is not None and self.settings.range_params is not None:
            from_param, to_param = self.settings.range_params
            query = {from_param: self._time(window.start_ms)} if window.start_ms is not None else {}
            url += "?" + urlencode({**query, to_param: self._time(window.end_ms)})
        document = self._download(url, "telemetry")
        document.device_id = device_id
        document.window = window
        return document

    def _time(self, ms: int) -> str:
        if self.settings.time_format == "iso8601":
            return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return str(ms)

    def _download(self, url: str, kind: AssetsOrTelemetry) -> Document:
        """GET url into a temporary file, retrying connection errors, timeouts, 429 and 5xx."""
        settings = self.settings
        last_problem = ""
        for attempt in range(1, settings.max_attempts + 1):
            retry_after: float | None = None
            self._rate_limit.wait()
            try:
                with self._session.get(
                    url, stream=True, timeout=(settings.connect_timeout_s, settings.read_timeout_s)
                ) as response:
                    if response.status_code == 404:
                        raise MissingDocument(url)
                    if response.status_code in (401, 403):
                        raise LoaderError(
                            f"The API refused access to {url} (HTTP {response.status_code}); check LOADER_API_TOKEN."
                        )
                    if response.status_code in RETRY_STATUSES:
                        last_problem = f"HTTP {response.status_code}"
                        retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
                    elif response.status_code >= 400:
                        raise LoaderError(f"The API answered HTTP {response.status_code} for {url}.")
                    else:
                        return _save_body(response, url, kind)
            except requests.Timeout:
                last_problem = "no answer within the timeout"
            except requests.ConnectionError as exc:
                last_problem = f"connection failed ({_connection_failure(exc)})"
            if attempt < settings.max_attempts:
                delay = min(settings.max_backoff_s, settings.backoff_s * 2 ** (attempt - 1))
                self._sleep(max(delay, retry_after or 0.0))
        raise LoaderError(f"The API kept failing for {url}: {last_problem} after {settings.max_attempts} attempts.")


def _save_body(response: requests.Response, url: str, kind: AssetsOrTelemetry) -> Document:
    handle, name = tempfile.mkstemp(prefix="loader-", suffix=".json")
    size = 0
    try:
        with os.fdopen(handle, "wb") as body:
            for block in response.iter_content(DOWNLOAD_BLOCK):
                body.write(block)
                size += len(block)
    except requests.RequestException:
        Path(name).unlink(missing_ok=True)
        raise
    return Document(url, kind, Path(name), size, is_temporary=True)


def _peek_assets_page(path: Path) -> tuple[int, int | None]:
    """Item count and totalCount of an assets page, for paging; a broken page ends the paging."""
    try:
        page: Any = json.loads(path.read_bytes())
    except ValueError:
        return 0, None
    if not isinstance(page, dict) or not isinstance(page.get("items"), list):
        return 0, None
    total = page.get("totalCount")
    return len(page["items"]), total if isinstance(total, int) else None


def _retry_after_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return min(float(value), 300.0)
    return None


def _connection_failure(exc: requests.ConnectionError) -> str:
    """Why the connection failed, whole: urllib3's innermost error without its connection object,
    e.g. "Failed to establish a new connection: [Errno 111] Connection refused"."""
    cause = exc.args[0] if exc.args else exc
    text = str(getattr(cause, "reason", cause))  # urllib3's MaxRetryError holds the cause as .reason
    return re.sub(r"^\(?<?\w*Connection(?:Pool)?\(host=[^)]*\)>?:\s*", "", text)
