"""Where the database is: one config for dbt and the loader.

The loader reads the same dbt profile (`profiles.yml`, profile `battery_telemetry`) and target that
`dbt build` uses, so a user configures the connection once. `--database-url` / `LOADER_DATABASE_URL`
override it. When no profile exists anywhere, the project's `profiles.yml.example` is used; its
default target is the embedded TimescaleDB that `loader db start` manages.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import jinja2
import yaml

from loader.errors import LoaderError

_PACKAGE_DIR = Path(__file__).resolve().parent
# The dbt project this loader came with: the checkout it runs from (or is installed editable from),
# else the copy an installed package carries (pyproject.toml puts it into the wheel).
IS_CHECKOUT = (_PACKAGE_DIR.parent / "dbt_project.yml").is_file()
PROJECT_ROOT = _PACKAGE_DIR.parent if IS_CHECKOUT else _PACKAGE_DIR / "project"
PROFILE_NAME = "battery_telemetry"
EXAMPLE_PROFILES = PROJECT_ROOT / "profiles.yml.example"
EMBEDDED_TARGET = "embedded"
# Where dbt builds when a profile's target names no schema (as profiles.yml.example's targets do).
DEFAULT_MODELS_SCHEMA = "analytics"


@dataclass(frozen=True)
class ConnectionSettings:
    host: str
    port: int
    dbname: str
    user: str
    password: str
    sslmode: str = "prefer"
    target: str | None = None
    schema: str = DEFAULT_MODELS_SCHEMA
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


def embedded_target_password(profiles_dir: str | None = None) -> str | None:
    """The password of the profile's 'embedded' target, which the embedded server then checks
    (None where the profile has no such target)."""
    profile = _read_yaml(find_profiles_file(profiles_dir)).get(PROFILE_NAME)
    if not isinstance(profile, dict) or EMBEDDED_TARGET not in (profile.get("outputs") or {}):
        return None
    return resolve_connection(None, EMBEDDED_TARGET, profiles_dir).password


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
            schema=str(output.get("schema", DEFAULT_MODELS_SCHEMA)),
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


@functools.cache
def _project_vars() -> dict[str, Any]:
    path = PROJECT_ROOT / "dbt_project.yml"
    if not path.is_file():
        raise LoaderError(f"The loader's dbt project is missing ({path}): reinstall the package.")
    return _read_yaml(path).get("vars") or {}


def dbt_project_var(name: str) -> Any:
    """A var of dbt_project.yml: the one home of the constants the loader and dbt share. Read from the
    project the loader came with (PROJECT_ROOT), so every command has them, wherever it runs."""
    return _project_vars()[name]


def find_project_dir(project_dir: str | None = None) -> Path:
    """The dbt project a command works on, found as dbt finds it: --project-dir, else DBT_PROJECT_DIR,
    else the current folder; where none of these is given and the current folder holds no project,
    the project the loader came with."""
    given = project_dir or os.environ.get("DBT_PROJECT_DIR")
    if given:
        if not (Path(given) / "dbt_project.yml").is_file():
            raise LoaderError(f"{given} holds no dbt_project.yml: --project-dir and DBT_PROJECT_DIR name dbt projects.")
        return Path(given).resolve()
    if (Path.cwd() / "dbt_project.yml").is_file():
        return Path.cwd()
    return PROJECT_ROOT
