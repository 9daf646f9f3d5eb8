"""The directory source: a folder laid out like the API (assets/*.json, telemetry/<deviceId>.json), or
as `loader archive` writes one (telemetry/<deviceId>/<file>.json.gz)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from loader.errors import LoaderError
from loader.sources.base import Document, MissingDocument
from loader.windows import Window

RESPONSE_SUFFIXES = (".json", ".json.gz")


def is_response_file(path: Path) -> bool:
    """A response as stored: JSON, or gzip-compressed JSON."""
    return path.is_file() and path.name.endswith(RESPONSE_SUFFIXES)


def device_of(path: Path) -> str:
    """The device a telemetry file is of: its name without the suffix, or the folder it is in."""
    return path.name.removesuffix(".gz").removesuffix(".json")


class DirectorySource:
    """A directory with `assets/*.json` and `telemetry/<deviceId>.json`, as the API serves them; a device's
    telemetry may also be several responses in `telemetry/<deviceId>/` (landed in name order), and any
    response may be gzip-compressed (`.json.gz`)."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise LoaderError(f"Source directory {root} does not exist.")
        if not (root / "assets").is_dir() and not (root / "telemetry").is_dir():
            raise LoaderError(f"Source directory {root} has neither an assets/ nor a telemetry/ folder.")
        self.root = root
        self.description = str(root)
        self.lists_devices = True
        self.takes_time_ranges = False

    def assets(self) -> Iterator[Document]:
        pages = sorted(path for path in (self.root / "assets").glob("*") if is_response_file(path))
        for page_number, path in enumerate(pages, start=1):
            yield Document(str(path), "assets", path, path.stat().st_size, page_number=page_number)

    def skipped_files(self) -> list[str]:
        """Files in assets/ and telemetry/ (and a device's folder) that are not responses, hidden files aside."""
        folders = [self.root / "assets", self.root / "telemetry", *self._device_folders()]
        return [
            str(path)
            for folder in folders
            if folder.is_dir()
            for path in sorted(folder.iterdir())
            if path.is_file() and not is_response_file(path) and not path.name.startswith(".")
        ]

    def _device_folders(self) -> list[Path]:
        telemetry = self.root / "telemetry"
        return sorted(path for path in telemetry.iterdir() if path.is_dir()) if telemetry.is_dir() else []

    def telemetry_devices(self, device_ids: list[str] | None) -> list[str]:
        """The devices to fetch telemetry for: the given ones, else every file and folder in telemetry/."""
        if device_ids is not None:
            return device_ids
        telemetry = self.root / "telemetry"
        found = {device_of(path) for path in telemetry.glob("*") if is_response_file(path)}
        found |= {folder.name for folder in self._device_folders()}
        return sorted(found)

    def _files_of(self, device_id: str) -> list[Path]:
        telemetry = self.root / "telemetry"
        whole = [telemetry / f"{device_id}{suffix}" for suffix in RESPONSE_SUFFIXES]
        folder = telemetry / device_id
        parts = sorted(path for path in folder.iterdir() if is_response_file(path)) if folder.is_dir() else []
        return [path for path in whole if path.is_file()] + parts

    def telemetry_documents(self, device_id: str, windows: list[Window] | None = None) -> Iterator[Document]:
        """The device's files, whole: a directory holds no time ranges."""
        paths = self._files_of(device_id)
        if not paths:
            raise MissingDocument(str(self.root / "telemetry" / f"{device_id}.json"))
        for path in paths:
            yield Document(str(path), "telemetry", path, path.stat().st_size, device_id=device_id)

    def telemetry_bytes(self, device_ids: list[str]) -> int | None:
        """What the telemetry to land weighs as stored, for the progress bar."""
        return sum(path.stat().st_size for device_id in device_ids for path in self._files_of(device_id))
