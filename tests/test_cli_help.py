"""Every command explains itself."""

from __future__ import annotations

import pytest

from tests.helpers import invoke

COMMANDS = [
    *([], ["load"], ["build"], ["status"], ["summary"], ["check-soc"], ["prune"], ["generate"]),
    *(["db"], ["db", "start"], ["db", "stop"], ["db", "status"]),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: " ".join(command) or "loader")
def test_help_says_what_the_command_does(command: list[str]) -> None:
    result = invoke([*command, "--help"])
    assert result.output.startswith("Usage: ")
    description = result.output.split("\n\n")[1].strip()
    assert len(description) > 20, f"'{' '.join(command)} --help' has no description"
