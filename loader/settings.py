"""Where the database is: one config for dbt and the loader.

The loader reads the same dbt profile (`profiles.yml`, profile `battery_telemetry`) and target that
`dbt build` uses, so a user configures the connection once. `--database-url` / `LOADER_DATABASE_URL`
override it. When no profile exists anywhere, the project's `profiles.yml.example` is used; its
default target is the embedded TimescaleDB that `loader db start` manages.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import jinja2
import yaml

from loader.errors import LoaderError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROFILE_NAME = "battery_telemetry"
EXAMPLE_PROFILES = PROJECT_ROOT / "profiles.yml.example"
EMBEDDED_TARGET = "embedded"


@dataclass(frozen=True)
class ConnectionSettings:
    host: str
    port: int
    dbname: str
    user: str
    password: str
    sslmode: str = "prefer"
    target: str | None = None
    schema: str = "analytics"
    profiles_path: Path | None = None

    @property
    def conninfo(self) -> str:
        password = f":{quote(self.password, safe='')}" if self.password else ""
        return (
            f"postgresql://{quote(self.user, safe='')}{password}@{self.host}:{self.port}/"
            f"{quote(self.dbname, safe='')}?sslmode={self.sslmode}"
        )

    @property
    def display(self) -> str:
        """The connection as it may be printed: never with the password."""
        where = f"{self.user}@{self.host}:{self.port}/{self.dbname}"
        return f"{where} (target {self.target})" if self.target else where

    @property
    def is_embedded(self) -> bool:
        return self.target == EMBEDDED_TARGET


def find_profiles_file(profiles_dir: str | None = None) -> Path:
    """The profiles.yml dbt would read, in dbt's own order, else the project's example file."""
    candidates = []
    if profiles_dir or os.environ.get("DBT_PROFILES_DIR"):
        candidates.append(Path(profiles_dir or os.environ["DBT_PROFILES_DIR"]) / "profiles.yml")
    candidates += [Path.cwd() / "profiles.yml", Path.home() / ".dbt" / "profiles.yml"]
    for path in candidates:
        if path.is_file() and PROFILE_NAME in _read_yaml(path):
            return path
    return EXAMPLE_PROFILES


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        content = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise LoaderError(f"{path} is not valid YAML: {exc}") from None
    return content if isinstance(content, dict) else {}


def _env_var(name: str, default: str | None = None) -> str:
    if name in os.environ:
        return os.environ[name]
    if default is None:
        raise LoaderError(f"The dbt profile needs environment variable {name}, which is not set.")
    return default


def _render(value: Any) -> Any:
    """Render dbt's Jinja in profile values (env_var, as_number) the way dbt does."""
    if isinstance(value, dict):
        return {key: _render(item) for key, item in value.items()}
    if isinstance(value, str) and "{{" in value:
        environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
        environment.globals["env_var"] = _env_var
        environment.filters["as_number"] = lambda text: text
        environment.filters["as_text"] = lambda text: text
        return environment.from_string(value).render()
    return value


def selected_target(profiles_path: Path, target: str | None = None) -> tuple[str, dict[str, Any]]:
    profile = _read_yaml(profiles_path).get(PROFILE_NAME)
    if not isinstance(profile, dict) or "outputs" not in profile:
        raise LoaderError(f"{profiles_path} has no '{PROFILE_NAME}' profile with outputs.")
    name = target or os.environ.get("DBT_TARGET") or _render(profile.get("target", "dev"))
    outputs = profile["outputs"]
    if name not in outputs:
        known = ", ".join(sorted(outputs))
        raise LoaderError(f"Target '{name}' is not in {profiles_path} (targets: {known}).")
    return name, _render(outputs[name])


def resolve_connection(
    database_url: str | None = None, target: str | None = None, profiles_dir: str | None = None
) -> ConnectionSettings:
    """Connection settings from an explicit URL, else from the dbt profile and target."""
    if database_url:
        return _from_url(database_url)
    path = find_profiles_file(profiles_dir)
    name, output = selected_target(path, target)
    if output.get("type") not in ("postgres", None):
        raise LoaderError(f"Target '{name}' in {path} is of type {output.get('type')}; need postgres.")
    try:
        return ConnectionSettings(
            host=str(output.get("host", "localhost")),
            port=int(output.get("port", 5432)),
            dbname=str(output.get("dbname") or output.get("database")),
            user=str(output.get("user")),
            password=str(output.get("password") or output.get("pass") or ""),
            sslmode=str(output.get("sslmode", "prefer")),
            target=name,
            schema=str(output.get("schema", "analytics")),
            profiles_path=path,
        )
    except (TypeError, ValueError) as exc:
        raise LoaderError(f"Target '{name}' in {path} is incomplete: {exc}") from None


def _from_url(url: str) -> ConnectionSettings:
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql") or not parts.hostname:
        safe = urlunsplit(parts._replace(netloc=parts.hostname or "")) if parts.netloc else url
        raise LoaderError(f"Database URL {safe} is not of the form postgresql://user:password@host:port/db.")
    sslmode = "prefer"
    for pair in parts.query.split("&"):
        key, _, value = pair.partition("=")
        if key == "sslmode" and value:
            sslmode = value
    return ConnectionSettings(
        host=parts.hostname,
        port=parts.port or 5432,
        dbname=parts.path.lstrip("/") or "postgres",
        user=parts.username or "postgres",
        password=unquote(parts.password or ""),
        sslmode=sslmode,
    )


def dbt_project_var(name: str) -> Any:
    """A var of dbt_project.yml: the one home of the constants the loader and dbt share."""
    return _read_yaml(PROJECT_ROOT / "dbt_project.yml")["vars"][name]
