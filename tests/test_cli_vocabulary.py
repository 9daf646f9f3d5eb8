"""Every command speaks one vocabulary: one name per concept, one duration syntax, one output option,
usage errors exit 2; old spellings still work for a release, with a notice.

The click tree is walked, so a new command or option is held to the same rules without listing it.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from harness.databases import free_port
from loader import exit_codes
from loader.cli import DURATION, DURATION_OR_ZERO, cli
from loader.deprecated_options import ANY_COMMAND, RENAMED
from tests.conftest import SAMPLE_DATA
from tests.helpers import invoke


def every_command(group: click.Group = cli, path: tuple[str, ...] = ()) -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found |= every_command(command, (*path, name))
        else:
            found[" ".join((*path, name))] = command
    return found


COMMANDS = every_command()
OPTIONS = [
    (name, option)
    for name, command in COMMANDS.items()
    for option in command.params
    if isinstance(option, click.Option) and not option.hidden
]
SPELLINGS = {spelling for _, option in OPTIONS for spelling in option.opts + option.secondary_opts}
OLD_SPELLINGS = {old for renamed in RENAMED.values() for old in renamed}


def test_no_option_is_offered_under_an_old_spelling() -> None:
    assert not SPELLINGS & OLD_SPELLINGS


def test_every_span_of_time_takes_the_one_duration_syntax() -> None:
    for command, option in OPTIONS:
        names = " ".join(option.opts)
        assert option.metavar not in ("SECONDS", "MINUTES", "DAYS"), f"{command} {names}"
        assert not names.endswith(("-seconds", "-days", "-ms")), f"{command} {names}"
        if option.metavar == "DURATION":
            assert option.type in (DURATION, DURATION_OR_ZERO), f"{command} {names}"


def test_one_name_means_one_kind_of_value_in_every_command() -> None:
    kinds: dict[str, str] = {}
    for command, option in OPTIONS:
        for spelling in option.opts:
            kind = type(option.type).__name__
            assert kinds.setdefault(spelling, kind) == kind, f"{spelling} of {command}: {kind} vs {kinds[spelling]}"


def test_time_ranges_are_since_and_until_and_output_is_format() -> None:
    assert {"--start", "--end", "--from", "--to", "--json", "--output"}.isdisjoint(SPELLINGS)
    for command, option in OPTIONS:
        if "--format" in option.opts:
            assert isinstance(option.type, click.Choice) and "json" in option.type.choices, command
        if {"--since", "--until"} & set(option.opts):
            assert isinstance(option.type, click.DateTime), command


def test_database_commands_take_the_same_connection_options() -> None:
    connection = {"--database-url", "--target", "--profiles-dir"}
    for name, command in COMMANDS.items():
        spellings = {spelling for option in command.params for spelling in option.opts}
        if "--database-url" in spellings:
            assert connection <= spellings, name
        schema_options = {spelling for spelling in spellings if spelling.endswith("-schema")}
        assert schema_options <= {"--raw-schema", "--models-schema"}, name


def test_the_help_lists_every_exit_code() -> None:
    codes = {value for name, value in vars(exit_codes).items() if name.isupper() and isinstance(value, int)}
    assert set(exit_codes.MEANINGS) == codes
    shown = invoke(["--help"]).output.split("Exit codes:")[1]
    assert all(f"- {code}: {exit_codes.MEANINGS[code]}" in shown for code in codes)


# An invocation per old spelling that gets past option parsing and then stops without a server.
NOWHERE = f"postgresql://nobody@127.0.0.1:{free_port()}/nowhere"
OLD_SPELLING_EXAMPLES = {
    (ANY_COMMAND, "--json"): ["status", "--json", "--database-url", NOWHERE],
    (ANY_COMMAND, "--schema"): ["check-soc", "--schema", "analytics", "--database-url", NOWHERE],
    ("readings", "--start"): ["readings", "--device", "d", "--metric", "m", "--start", "2026-01-01", "--database-url",
                              NOWHERE],
    ("readings", "--end"): ["readings", "--device", "d", "--metric", "m", "--end", "2026-01-01", "--database-url",
                            NOWHERE],
    ("generate", "--start"): ["generate", "{tmp}/fleet", "--devices", "1", "--period", "15m", "--interval", "60s",
                              "--start", "2025-02-01"],
    ("generate", "--days"): ["generate", "{tmp}/fleet", "--devices", "1", "--days", "0.01", "--interval", "60s"],
    ("prune", "--keep-days"): ["prune", "--keep-days", "30", "--database-url", NOWHERE],
    ("load", "--compact-after"): ["load", "{tmp}", "--compact-after", "2d", "--database-url", NOWHERE],
    ("stream", "--compact-after"): ["stream", "mqtt://127.0.0.1:1/x", "--compact-after", "2d", "--database-url",
                                    NOWHERE],
    ("stream", "--batch-seconds"): ["stream", "mqtt://127.0.0.1:1/x", "--batch-seconds", "0.5", "--database-url",
                                    NOWHERE],
}  # fmt: skip


def test_every_old_spelling_has_an_example() -> None:
    assert set(OLD_SPELLING_EXAMPLES) == {(command, old) for command, table in RENAMED.items() for old in table}


@pytest.mark.parametrize("example", sorted(OLD_SPELLING_EXAMPLES), ids=lambda example: " ".join(example))
def test_an_old_spelling_still_works_with_a_one_line_notice(example: tuple[str, str], tmp_path: Path) -> None:
    command, old = example
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in OLD_SPELLING_EXAMPLES[example]]
    result = invoke(args, expected_exit=0 if args[0] == "generate" else 1)
    renamed = {**RENAMED[ANY_COMMAND], **RENAMED.get(command, {})}[old]
    notice = f"Note: {old} is deprecated and goes in the next release; use {renamed.new}."
    assert result.stderr.splitlines()[0] == notice
    assert "Traceback" not in result.output


def test_the_old_spellings_values_become_the_new_ones(tmp_path: Path) -> None:
    result = invoke(["generate", str(tmp_path / "fleet"), "--devices", "1", "--days", "0.01", "--interval", "60",
                     "--start", "2025-02-01"])  # fmt: skip
    assert "Note: --days is deprecated and goes in the next release; use --period." in result.stderr
    assert "Note: a bare number for --interval is deprecated and goes in the next release; write 60s." in result.stderr
    first_ms = min(point[0] for point in _first_series(tmp_path / "fleet"))
    assert first_ms >= 1738368000000  # 2025-02-01: --start became --since


def _first_series(fleet: Path) -> list[list[float]]:
    [telemetry] = (fleet / "telemetry").glob("*.json")
    return json.loads(telemetry.read_text())["series"][0]["data"]


def test_a_time_range_for_a_directory_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke(["load", str(SAMPLE_DATA), "--since", "2026-01-01", "--database-url", NOWHERE], expected_exit=2)
    assert "cannot be asked for a time range" in result.stderr


@pytest.mark.parametrize("command", ["load", "prune", "compact"])
def test_an_option_a_command_no_longer_needs_is_ignored_with_a_one_line_notice(command: str) -> None:
    args = {"load": ["load", str(SAMPLE_DATA)], "prune": ["prune", "--older-than", "30d"], "compact": ["compact"]}
    result = invoke([*args[command], "--models-schema", "analytics", "--database-url", NOWHERE], expected_exit=1)
    assert result.stderr.splitlines()[0] == (
        f"Note: --models-schema is deprecated and goes in the next release; loader {command} ignores it "
        "(the admission ledger it read is in the raw schema now)."
    )
    assert "Cannot connect to the database" in result.stderr  # the command ran on, without the option
