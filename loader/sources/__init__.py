"""Where API responses come from. Each source is a module of this package, behind one protocol
(`Source`, in base.py): a directory laid out like the API (directory.py), the HTTP API (http.py),
object storage (s3.py), and an MQTT broker's messages (mqtt.py, landed by `loader stream`).
`open_source` picks one by the location's URL scheme."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from loader.errors import LoaderError
from loader.sources.base import Document, MissingDocument, S3Settings, Source
from loader.sources.directory import DirectorySource
from loader.sources.http import TIME_FORMATS, HttpSettings, HttpSource, TimeFormat

__all__ = [
    "TIME_FORMATS",
    "DirectorySource",
    "Document",
    "HttpSettings",
    "HttpSource",
    "MissingDocument",
    "S3Settings",
    "Source",
    "TimeFormat",
    "open_source",
]


def _s3_source(location: str, http: HttpSettings | None, s3: S3Settings | None) -> Source:
    from loader.sources.s3 import S3Source  # boto3 takes a moment to import: only when needed

    return S3Source(location, s3)


# The sources `loader load` reads, by the location's URL scheme.
SOURCES_BY_SCHEME: dict[str, Callable[[str, HttpSettings | None, S3Settings | None], Source]] = {
    "http": lambda location, http, s3: HttpSource(location, http),
    "https": lambda location, http, s3: HttpSource(location, http),
    "s3": _s3_source,
}


def open_source(location: str, http: HttpSettings | None = None, s3: S3Settings | None = None) -> Source:
    """The source at `location`: a URL of a scheme in SOURCES_BY_SCHEME, else a directory."""
    if "://" not in location:
        return DirectorySource(Path(location))
    scheme = location.split("://", 1)[0].lower()
    if scheme not in SOURCES_BY_SCHEME:
        raise LoaderError(f"Source {location} is not supported: give a directory, an http(s) URL or an s3:// URL.")
    return SOURCES_BY_SCHEME[scheme](location, http, s3)
