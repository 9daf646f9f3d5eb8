"""The loader reads the dbt profile and target dbt uses; a URL overrides it; passwords stay hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from loader.errors import LoaderError
from loader.settings import EXAMPLE_PROFILES, resolve_connection

PROFILE = """
battery_telemetry:
  target: "{{ env_var('DBT_TARGET', 'dev') }}"
  outputs:
    dev:
      type: postgres
      host: db.internal
      port: "{{ env_var('TEST_DB_PORT', '6543') | as_number }}"
      user: analyst
      password: "{{ env_var('TEST_DB_PASSWORD') }}"
      dbname: warehouse
      schema: telemetry
    other:
      type: postgres
      host: other.internal
      user: u
      password: p
      dbname: d
"""


@pytest.fixture
def profiles_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "profiles.yml").write_text(PROFILE)
    monkeypatch.delenv("DBT_TARGET", raising=False)
    monkeypatch.setenv("TEST_DB_PASSWORD", "s3cret/pass")
    return tmp_path


def test_the_profile_target_gives_the_connection_with_env_vars_rendered(profiles_dir: Path) -> None:
    settings = resolve_connection(profiles_dir=str(profiles_dir))
    assert (settings.host, settings.port, settings.dbname, settings.user, settings.password) == (
        "db.internal", 6543, "warehouse", "analyst", "s3cret/pass"
    )  # fmt: skip
    assert (settings.target, settings.schema) == ("dev", "telemetry")
    assert "s3cret" not in settings.display
    assert "s3cret%2Fpass" in settings.conninfo


def test_target_option_and_url_override_the_default(profiles_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_connection(target="other", profiles_dir=str(profiles_dir)).host == "other.internal"
    monkeypatch.setenv("DBT_TARGET", "other")
    assert resolve_connection(profiles_dir=str(profiles_dir)).host == "other.internal"
    url = resolve_connection("postgresql://me:p%40ss@h:5555/db", profiles_dir=str(profiles_dir))
    assert (url.host, url.port, url.user, url.password, url.dbname) == ("h", 5555, "me", "p@ss", "db")


def test_missing_env_var_and_unknown_target_are_one_sentence(profiles_dir: Path, monkeypatch) -> None:
    monkeypatch.delenv("TEST_DB_PASSWORD")
    with pytest.raises(LoaderError, match="needs environment variable TEST_DB_PASSWORD"):
        resolve_connection(profiles_dir=str(profiles_dir))
    with pytest.raises(LoaderError, match=r"Target 'nope' is not in .* \(targets: dev, other\)"):
        resolve_connection(target="nope", profiles_dir=str(profiles_dir))


def test_without_any_profile_the_example_and_its_embedded_target_are_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("DBT_PROFILES_DIR", raising=False)
    monkeypatch.delenv("DBT_TARGET", raising=False)
    settings = resolve_connection()
    assert settings.profiles_path == EXAMPLE_PROFILES
    assert settings.is_embedded and settings.dbname == "template1"
