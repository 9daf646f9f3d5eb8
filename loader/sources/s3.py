"""The object-storage source: `s3://bucket/prefix` on AWS S3 or an S3-compatible server (MinIO and others).

Layouts accepted under the prefix (both may be mixed):

    assets/<any>.json                     assets responses, as in a directory source
    telemetry/<deviceId>.json             a device's telemetry response
    telemetry/<deviceId>/<any>.json       a device's telemetry split into several responses, e.g. by day
                                          (telemetry/<deviceId>/2026-01-31.json), landed in key order

Any of them may be gzip-compressed (`.json.gz`), as `loader archive` writes them.

Credentials, region and endpoint come from the standard AWS configuration: AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY (or AWS_PROFILE and ~/.aws/), AWS_DEFAULT_REGION, and AWS_ENDPOINT_URL_S3 or
AWS_ENDPOINT_URL for a server other than AWS (or `--s3-endpoint-url`). The listing is read once per
run; an object whose listed ETag and size equal those of an object already landed from the same key
is skipped without being downloaded. Objects are streamed to a temporary file, never held in memory.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from loader.errors import LoaderError
from loader.sources.base import DOWNLOAD_BLOCK, AssetsOrTelemetry, Document, MissingDocument, S3Settings
from loader.sources.directory import RESPONSE_SUFFIXES
from loader.windows import Window

ACCESS_REFUSED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "401"}


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    etag: str


class S3Source:
    """Responses stored as objects, laid out like a directory source (see the module's docstring)."""

    def __init__(self, url: str, settings: S3Settings | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise LoaderError(f"Source {url} is not an s3://bucket/prefix URL.")
        self.settings = settings or S3Settings()
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.description = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self.lists_devices = True
        self.takes_time_ranges = False
        # A session of its own: boto3's default one would keep the first credentials it found for good.
        self._client = boto3.session.Session().client(
            "s3",
            endpoint_url=self.settings.endpoint_url,
            config=Config(
                connect_timeout=self.settings.connect_timeout_s,
                read_timeout=self.settings.read_timeout_s,
                retries={"max_attempts": self.settings.max_attempts, "mode": "standard"},
            ),
        )
        self._listing: list[StoredObject] | None = None

    @property
    def where(self) -> str:
        endpoint = (
            self.settings.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        )
        return f"bucket '{self.bucket}'" + (f" at {endpoint}" if endpoint else "")

    def _key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def _relative(self, key: str) -> str:
        return key[len(self.prefix) + 1 :] if self.prefix else key

    def upload(self, relative: str, local: Path) -> None:
        """Store a local file at `relative` under the prefix (what `loader archive` writes)."""
        self._call(lambda: self._client.upload_file(str(local), self.bucket, self._key(relative)))

    def download(self, relative: str) -> Path:
        """A temporary local copy of the object at `relative` under the prefix; the caller removes it."""
        return self._download(StoredObject(self._key(relative), 0, ""))

    def delete(self, relative: str) -> None:
        self._call(lambda: self._client.delete_object(Bucket=self.bucket, Key=self._key(relative)))

    def listing(self) -> list[StoredObject]:
        """Every object under the prefix's assets/ and telemetry/, in key order (read once per run)."""
        if self._listing is None:
            objects = []
            for folder in ("assets/", "telemetry/"):
                pages = self._call(
                    lambda folder=folder: list(
                        self._client.get_paginator("list_objects_v2").paginate(
                            Bucket=self.bucket, Prefix=self._key(folder)
                        )
                    )
                )
                objects += [
                    StoredObject(item["Key"], int(item["Size"]), str(item["ETag"]).strip('"'))
                    for page in pages
                    for item in page.get("Contents", [])
                ]
            if not objects:
                raise LoaderError(f"{self.description} holds no assets/ or telemetry/ objects ({self.where}).")
            self._listing = sorted(objects, key=lambda stored: stored.key)
        return self._listing

    def _responses(self, folder: str) -> list[StoredObject]:
        return [
            stored
            for stored in self.listing()
            if self._relative(stored.key).startswith(folder) and stored.key.endswith(RESPONSE_SUFFIXES)
        ]

    def assets(self) -> Iterator[Document]:
        for page_number, stored in enumerate(self._responses("assets/"), start=1):
            document = self._document(stored, "assets")
            document.page_number = page_number
            yield document

    def skipped_files(self) -> list[str]:
        """Objects in assets/ and telemetry/ that are not responses (not *.json or *.json.gz)."""
        return [self._uri(stored) for stored in self.listing() if not stored.key.endswith(RESPONSE_SUFFIXES)]

    def telemetry_devices(self, device_ids: list[str] | None) -> list[str]:
        if device_ids is not None:
            return device_ids
        return sorted({self._device_of(stored) for stored in self._responses("telemetry/")})

    def _device_of(self, stored: StoredObject) -> str:
        relative = self._relative(stored.key).removeprefix("telemetry/")
        return relative.split("/", 1)[0].removesuffix(".gz").removesuffix(".json")

    def _objects_of(self, device_id: str) -> list[StoredObject]:
        return [stored for stored in self._responses("telemetry/") if self._device_of(stored) == device_id]

    def telemetry_documents(self, device_id: str, windows: list[Window] | None = None) -> Iterator[Document]:
        """The device's objects in key order (so day files land oldest first), downloaded when opened."""
        objects = self._objects_of(device_id)
        if not objects:
            raise MissingDocument(
                f"no telemetry/{device_id}.json or telemetry/{device_id}/*.json in {self.description}"
            )
        for stored in objects:
            document = self._document(stored, "telemetry")
            document.device_id = device_id
            yield document

    def telemetry_bytes(self, device_ids: list[str]) -> int | None:
        wanted = set(device_ids)
        return sum(stored.size for stored in self._responses("telemetry/") if self._device_of(stored) in wanted)

    def _uri(self, stored: StoredObject) -> str:
        return f"s3://{self.bucket}/{stored.key}"

    def _document(self, stored: StoredObject, kind: AssetsOrTelemetry) -> Document:
        return Document(
            self._uri(stored), kind, None, stored.size, etag=stored.etag, download=lambda: self._download(stored)
        )

    def _download(self, stored: StoredObject) -> Path:
        handle, name = tempfile.mkstemp(prefix="loader-", suffix=".json")
        try:
            with os.fdopen(handle, "wb") as body:
                response = self._call(lambda: self._client.get_object(Bucket=self.bucket, Key=stored.key))
                self._call(lambda: [body.write(block) for block in response["Body"].iter_chunks(DOWNLOAD_BLOCK)])
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return Path(name)

    def _call(self, request: Any) -> Any:
        """Run one S3 request; what goes wrong becomes one sentence."""
        try:
            return request()
        except NoCredentialsError:
            raise LoaderError(
                f"No AWS credentials for {self.description}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                "or AWS_PROFILE."
            ) from None
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchBucket", "404") and not self._listing:
                raise LoaderError(f"The bucket of {self.description} does not exist ({self.where}).") from None
            if code in ACCESS_REFUSED:
                raise LoaderError(
                    f"Object storage refused access to {self.description} ({code}); check the AWS credentials."
                ) from None
            raise LoaderError(f"Object storage answered {code or 'an error'} for {self.description}.") from None
        except BotoCoreError as error:
            raise LoaderError(
                f"Object storage could not be reached for {self.description} ({self.where}): {error}."
            ) from None
