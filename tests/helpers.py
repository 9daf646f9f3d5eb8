"""Test helpers: run the `loader` CLI in-process the way a user does."""

from __future__ import annotations

from click.testing import CliRunner, Result

from loader.cli import cli
from loader.settings import ConnectionSettings


def invoke(args: list[str], expected_exit: int = 0, env: dict[str, str] | None = None) -> Result:
    """Run `loader ARGS` in-process and check its exit code, showing the output when it differs."""
    result = CliRunner().invoke(cli, args, catch_exceptions=False, env=env)
    assert result.exit_code == expected_exit, (
        f"loader {' '.join(args)} exited {result.exit_code}, expected {expected_exit}:\n{result.output}"
    )
    return result


def load_args(settings: ConnectionSettings, *args: str) -> list[str]:
    return ["load", "--database-url", settings.conninfo, "--no-progress", *args]
