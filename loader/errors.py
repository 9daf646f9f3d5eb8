"""Errors the user can act on. The CLI turns them into one sentence and an exit code, no traceback."""

import click

from loader import exit_codes


class LoaderError(click.ClickException):
    """A domain error: the command could not run. Message is a sentence for a person."""

    exit_code = exit_codes.COULD_NOT_RUN
