"""Test helpers: run the `loader` CLI in-process the way a user does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from harness.alerting_stack import AlertingStack, StackUnavailable, alerting_stack
from loader.cli import cli
from loader.settings import ConnectionSettings
from tests.conftest import BACKEND_UNAVAILABLE, Backend


def invoke(args: list[str], expected_exit: int = 0, env: dict[str, str] | None = None) -> Result:
    """Run `loader ARGS` in-process and check its exit code, showing the output when it differs."""
    result = CliRunner().invoke(cli, args, catch_exceptions=False, env=env)
    assert result.exit_code == expected_exit, (
        f"loader {' '.join(args)} exited {result.exit_code}, expected {expected_exit}:\n{result.output}"
    )
    return result


def load_args(settings: ConnectionSettings, *args: str) -> list[str]:
    return ["load", "--database-url", settings.conninfo, "--no-progress", *args]


@contextmanager
def running_stack(backend: Backend, folder: Path) -> Iterator[AlertingStack]:
    """The real Prometheus, exporter and Alertmanager on `backend`; the test is skipped without them."""
    try:
        stack_context = alerting_stack(backend.settings, folder)
        stack = stack_context.__enter__()
    except StackUnavailable as exc:
        pytest.skip(f"{BACKEND_UNAVAILABLE}: alerting stack: {exc}")
    try:
        yield stack
    finally:
        stack_context.__exit__(None, None, None)
