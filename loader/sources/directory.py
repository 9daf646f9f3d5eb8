"""The directory source: a folder laid out like the API (assets/*.json, telemetry/<deviceId>.json)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from loader.errors import LoaderError
from loader.sources.base import Document, MissingDocument
from loader.windows import Window


class DirectorySource:
    """A directory with `assets/*.json` and `telemetry/<deviceId>.json`, as the API serves them."""

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
        for page_number, path in enumerate(sorted((self.root / "assets").glob("*.json")), start=1):
            yield Document(str(path), "assets", path, path.stat().st_size, page_number=page_number)

    def skipped_files(self) -> list[str]:
        """Files in assets/ and telemetry/ that are not responses (not *.json), hidden files aside."""
        return [
            str(path)
            for folder in ("assets", "telemetry")
            if (self.root / folder).is_dir()
            for path in sorted((self.root / folder).iterdir())
            if path.is_file() and path.suffix != ".json" and not path.name.startswith(".")
        ]

    def telemetry_devices(self, device_ids: list[str] | None) -> list[str]:
        """The devices to fetch telemetry for: the given ones, else every file in telemetry/."""
        if device_ids is not None:
            return device_ids
        return [path.stem for path in sorted((self.root / "telemetry").glob("*.json"))]

    def telemetry_documents(self, device_id: str, windows: list[Window] | None = None) -> Iterator[Document]:
        """The device's whole file: a directory holds no time ranges."""
        path = self.root / "telemetry" / f"{device_id}.json"
        if not path.is_file():
            raise MissingDocument(str(path))
        yield Document(str(path), "telemetry", path, path.stat().st_size, device_id=device_id)

    def telemetry_bytes(self, device_ids: list[str]) -> int | None:
        """What the telemetry to land weighs, for the progress bar."""
        paths = [self.root / "telemetry" / f"{device_id}.json" for device_id in device_ids]
        return sum(path.stat().st_size for path in paths if path.is_file())
