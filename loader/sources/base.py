"""What every source is and gives: the `Source` protocol and the `Document`s it yields, one response
body each, opened as a binary stream so the loader never holds a whole telemetry response in memory."""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Literal, Protocol, cast

from loader.telemetry_parser import MalformedResponse
from loader.windows import Window

AssetsOrTelemetry = Literal["assets", "telemetry"]
DOWNLOAD_BLOCK = 1 << 20


@dataclass
class Document:
    """One response body. `path` is where it is on disk; a document listed but not downloaded yet (object
    storage) has none until `open()` fetches it, so one skipped as unchanged is never downloaded."""

    uri: str
    kind: AssetsOrTelemetry
    path: Path | None
    size: int
    device_id: str | None = None
    page_number: int = 1
    is_temporary: bool = False
    # The time range this response was asked for (sources that take one).
    window: Window | None = None
    # The object's version as its store lists it (object storage's ETag), recorded with what landed.
    etag: str | None = None
    download: Callable[[], Path] | None = None
    # A message's body, held in memory (small), and when it arrived (streaming).
    content: bytes | None = None
    received_at: datetime | None = None
    # Recorded in landed_files (a response or object, which a re-run may skip whole); a message is not:
    # its pieces' content hashes recognise a redelivery.
    ledgered: bool = True

    def local_path(self) -> Path:
        if self.path is None:
            assert self.download is not None, "a document has a path or a way to download one"
            self.path = self.download()
            self.is_temporary = True
        return self.path

    @property
    def is_gzip(self) -> bool:
        """A gzip-compressed response (`.json.gz`, as `loader archive` writes them)."""
        return self.uri.endswith(".gz")

    def open_stored(self) -> IO[bytes]:
        """The bytes as stored (compressed, for a `.json.gz`): what its content hash is of."""
        if self.content is not None:
            return io.BytesIO(self.content)
        return self.local_path().open("rb")

    def open(self) -> IO[bytes]:
        """The response body, decompressed when stored compressed; a damaged gzip file raises
        MalformedResponse when read."""
        stored = self.open_stored()
        return cast(IO[bytes], _GzipBody(stored)) if self.is_gzip else stored

    def read_body(self) -> bytes:
        """The whole response body (for the small assets pages)."""
        with self.open() as body:
            return body.read()

    def discard(self) -> None:
        if self.is_temporary and self.path is not None:
            self.path.unlink(missing_ok=True)


class _GzipBody(gzip.GzipFile):
    """A gzip stream whose damage (truncated, not gzip, bad checksum) reads as a malformed response;
    closing it closes the stored file too."""

    def __init__(self, stored: IO[bytes]) -> None:
        super().__init__(fileobj=stored)
        self._stored = stored

    def close(self) -> None:
        super().close()
        self._stored.close()

    def read(self, size: int | None = -1) -> bytes:
        try:
            return super().read(size)
        except (OSError, EOFError, zlib.error) as damage:
            raise MalformedResponse(f"is not a readable gzip file ({damage})") from None


class MissingDocument(Exception):
    """The source has no such response (HTTP 404, or no file): not an error for the whole run."""


class Source(Protocol):
    """What the loader lands from: a directory, an HTTP API, object storage (s3.py)
    or a broker's messages (loader/stream.py). A source that lists its devices (a directory, a bucket)
    is asked which it holds; one that does not (an API) gets them from its assets."""

    description: str
    lists_devices: bool

    @property
    def takes_time_ranges(self) -> bool:
        """Whether telemetry can be asked for a time window (--since/--until, cursors)."""
        ...

    def assets(self) -> Iterator[Document]:
        """The assets responses, page by page."""
        ...

    def telemetry_devices(self, device_ids: list[str] | None) -> list[str]:
        """The devices to land telemetry of: `device_ids`, or all the source holds when None."""
        ...

    def telemetry_documents(self, device_id: str, windows: list[Window] | None = None) -> Iterator[Document]:
        """A device's telemetry responses (one per window when windows are given)."""
        ...

    def telemetry_bytes(self, device_ids: list[str]) -> int | None:
        """The bytes those devices' telemetry holds, for a progress bar; None when unknown."""
        ...

    def skipped_files(self) -> list[str]:
        """What the source held that is no response (reported as warnings)."""
        ...


# Object storage's settings live here, not beside its source: reading them must not import boto3.
@dataclass(frozen=True)
class S3Settings:
    """How to reach object storage (s3.py); credentials come from AWS's own config."""

    endpoint_url: str | None = None
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0
    max_attempts: int = 5
