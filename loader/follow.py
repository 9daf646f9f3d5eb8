"""`loader load --follow`: the same load again every few seconds until told to stop.

The first Ctrl-C or SIGTERM ends the loop after the round under way (so no landing is cut short); a
second Ctrl-C interrupts at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

Round = TypeVar("Round")


def stop_on_signals() -> threading.Event:
    """An event set by the first SIGINT or SIGTERM; after it, SIGINT interrupts as usual."""
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    return stop


def rounds(
    run_round: Callable[[], Round], every_s: float | None, max_rounds: int | None, stop: threading.Event
) -> Iterator[Round]:
    """Each round's result as it finishes: one round, or with `every_s` one every `every_s` seconds until
    `max_rounds` ran or `stop` is set (waiting ends as soon as it is)."""
    done = 0
    while True:
        yield run_round()
        done += 1
        if every_s is None or (max_rounds is not None and done >= max_rounds) or stop.wait(every_s):
            return
