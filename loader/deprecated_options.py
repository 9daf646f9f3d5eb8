"""Old spellings of `loader` options, accepted for one more release with a one-line notice.

Each command speaks one vocabulary (docs/cli.md): `--since/--until` for a time range, `--format` for
the output, one duration syntax (`30s`, `5m`, `6h`, `7d`), `--models-schema` for dbt's schema. A
spelling from before is rewritten to today's before click parses the command line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Renamed:
    new: str
    # The new option's value from the old one's; None: the same value. For an old flag (no value),
    # the value the new option takes.
    value: Callable[[str], str] | None = None
    flag_value: str | None = None


ANY_COMMAND = "*"
# Command name (or ANY_COMMAND) -> old option -> what it became.
RENAMED: dict[str, dict[str, Renamed]] = {
    ANY_COMMAND: {
        "--json": Renamed("--format", flag_value="json"),
        "--schema": Renamed("--models-schema"),
    },
    "readings": {"--start": Renamed("--since"), "--end": Renamed("--until")},
    "generate": {"--start": Renamed("--since"), "--days": Renamed("--period", value=lambda days: f"{days}d")},
    "prune": {"--keep-days": Renamed("--older-than", value=lambda days: f"{days}d")},
    "load": {"--compact-after": Renamed("--compact-older-than")},
    "stream": {
        "--compact-after": Renamed("--compact-older-than"),
        "--batch-seconds": Renamed("--batch-every", value=lambda seconds: f"{seconds}s"),
    },
}


# Options a command no longer needs, with why: taken (with their value) for one more release, ignored.
_LEDGER_MOVED = "the admission ledger it read is in the raw schema now"
DROPPED: dict[str, dict[str, str]] = {
    command: {"--models-schema": _LEDGER_MOVED, "--schema": _LEDGER_MOVED}
    for command in ("load", "stream", "prune", "compact")
}


def deprecation_notice(old: str, instead: str) -> str:
    """The one line an old spelling prints: `instead` says what to write now."""
    return f"Note: {old} is deprecated and goes in the next release; {instead}."


def bare_seconds(option: str, text: str) -> tuple[str, str | None]:
    """A duration as the one syntax, from a bare number of seconds (how some options took it before),
    and the notice that says so (None when `text` is no bare number)."""
    if not re.fullmatch(r"\d+(?:\.\d+)?", text):
        return text, None
    return f"{text}s", deprecation_notice(f"a bare number for {option}", f"write {text}s")


def renamed_options(command: str, args: list[str]) -> tuple[list[str], list[str]]:
    """`args` with old spellings replaced for `command`, and one notice per old spelling used."""
    table = {**RENAMED[ANY_COMMAND], **RENAMED.get(command, {})}
    dropped = DROPPED.get(command, {})
    rewritten: list[str] = []
    notices: list[str] = []
    items = iter(args)
    for arg in items:
        if arg == "--":
            rewritten += [arg, *items]
            break
        name, has_inline_value, inline_value = arg.partition("=")
        if name in dropped:
            if not has_inline_value:
                next(items, None)
            notices.append(deprecation_notice(name, f"loader {command} ignores it ({dropped[name]})"))
            continue
        renamed = table.get(name)
        if renamed is None:
            rewritten.append(arg)
            continue
        notices.append(deprecation_notice(name, f"use {renamed.new}"))
        if renamed.flag_value is not None:
            rewritten += [renamed.new, renamed.flag_value]
            continue
        value = inline_value if has_inline_value else next(items, None)
        if value is None:
            rewritten.append(renamed.new)  # click says the value is missing
            continue
        rewritten += [renamed.new, renamed.value(value) if renamed.value else value]
    return rewritten, notices
