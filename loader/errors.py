"""Errors the user can act on: plain exceptions carrying a sentence for a person and the exit code
that goes with it. The library raises them; only the CLI (loader/cli.py) knows about click and turns
them into one line on stderr and that exit code, no traceback."""

from loader import exit_codes


class LoaderError(Exception):
    """A domain error: the command could not run. `message` is a sentence for a person."""

    exit_code = exit_codes.COULD_NOT_RUN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OptionsDoNotFit(LoaderError):
    """The options given do not fit what they are applied to (a time range for a source without
    one): a usage error, as click's own."""

    exit_code = exit_codes.USAGE_ERROR
