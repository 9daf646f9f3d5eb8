"""Every command explains itself."""

from __future__ import annotations

import click
import pytest

from loader.cli import cli
from tests.helpers import invoke


def every_command(group: click.Group = cli, path: tuple[str, ...] = ()) -> list[list[str]]:
    """The group itself and every command below it, so a new command is covered without listing it."""
    found = [list(path)]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += every_command(command, (*path, name))
        else:
            found.append([*path, name])
    return found


COMMANDS = every_command()


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: " ".join(command) or "loader")
def test_help_says_what_the_command_does(command: list[str]) -> None:
    result = invoke([*command, "--help"])
    assert result.output.startswith("Usage: ")
    description = result.output.split("\n\n")[1].strip()
    assert len(description) > 20, f"'{' '.join(command)} --help' has no description"


def test_load_help_lists_each_sources_own_options_under_its_heading() -> None:
    sections = invoke(["load", "--help"]).output.split("\n\n")
    by_heading = {section.splitlines()[0]: section for section in sections if section.strip()}
    http = next(text for heading, text in by_heading.items() if heading.startswith("HTTP API source"))
    s3 = next(text for heading, text in by_heading.items() if heading.startswith("Object storage source"))
    general = by_heading["Options:"]
    assert "--since" in http and "--http-timeout" in http and "--since" not in general
    assert "--s3-endpoint-url" in s3 and "--s3-endpoint-url" not in general
    assert "--dry-run" in general and "--dry-run" not in http
