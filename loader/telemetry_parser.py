"""Stream a telemetry response into bounded pieces without reading it whole.

A response is `{"series": [{"name": ..., "data": [[epoch_ms, value], ...]}, ...]}` and may be hundreds
of MB. The parser reads it in blocks, walks the structure itself, and cuts each series' `data` into
pieces of at most `max_points` points (and about `max_piece_chars` characters). Each point's JSON text
is kept as received, so a piece's payload is the received JSON apart from whitespace.

What the parser changes, because PostgreSQL's jsonb cannot store it, is reported on the piece
(`sanitized`): the non-standard tokens `NaN`, `Infinity`, `-Infinity` become the strings "NaN",
"Infinity", "-Infinity" (dbt then routes those points to data quality), and `\\u0000` in strings becomes
U+FFFD. Everything else at point level (nulls, strings, odd shapes) passes through untouched: it is
dbt's to judge. Structural problems (not JSON, truncated, no `series` list, a series without a name)
raise MalformedResponse, or SeriesRejected for one series when the rest of the response is fine.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, cast

BLOCK_CHARS = 1 << 20
# Keep at least this much text ahead of the cursor while scanning points, so a point never straddles
# the end of the buffer on the fast path.
LOOKAHEAD_CHARS = 1 << 16
DEFAULT_MAX_POINTS = 20_000
DEFAULT_MAX_PIECE_CHARS = 8 << 20
MAX_VALUE_CHARS = 64 << 20

_WS = re.compile(r"[ \t\n\r]*")
# A plain decimal: no exponent and at most 300 integer digits, so it always fits a double precision.
_PLAIN_NUMBER = r"-?(?:0|[1-9]\d{0,299})(?:\.\d+)?"
# The common point, [integer timestamp, plain decimal], matched one at a time or in runs of up to
# RUN_POINTS by one regex call (no strings, so every '[' in a run starts a point). Everything else
# (null, strings, exponents, other shapes) takes the slow path and marks its piece as not plain.
_POINT_TEXT = rf"\[[ \t\n\r]*-?\d{{1,18}}[ \t\n\r]*,[ \t\n\r]*{_PLAIN_NUMBER}[ \t\n\r]*\]"
RUN_POINTS = 512
_POINT = re.compile(_POINT_TEXT)
_POINT_RUN = re.compile(rf"{_POINT_TEXT}(?:[ \t\n\r]*,[ \t\n\r]*{_POINT_TEXT}){{0,{RUN_POINTS - 1}}}")
_RUN_TIMESTAMPS = re.compile(r"\[[ \t\n\r]*(-?\d+)")
# One point of a plain piece (is_plain_numeric), with its timestamp and value as groups 1 and 2.
PLAIN_POINT = re.compile(rf"\[[ \t\n\r]*(-?\d{{1,18}})[ \t\n\r]*,[ \t\n\r]*({_PLAIN_NUMBER})[ \t\n\r]*\]")
# jsonb does not keep whitespace between tokens; dropping it before hashing makes a re-sent response
# with other formatting hash the same.
_STRIP_WHITESPACE = str.maketrans("", "", " \t\n\r")
_NON_FINITE = {"NaN": "NaN", "Infinity": "Infinity", "-Infinity": "-Infinity"}


class MalformedResponse(Exception):
    """The response as a whole cannot be read; `reason` says why in words a person understands."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class SeriesRejected:
    """One series that cannot be landed, while the rest of the response can."""

    series_index: int
    name: str | None
    reason: str
    text: str
    # A well-formed series without points: an error in a whole response, none in one asked for a time window.
    is_empty: bool = False


@dataclass
class Piece:
    series_index: int
    name: str
    chunk_index: int
    points_json: str
    point_count: int
    first_ms: int | None
    last_ms: int | None
    sanitized: list[str] = field(default_factory=list)
    # Every point is [integer, plain decimal]: dbt may cast the whole piece without judging each point.
    is_plain_numeric: bool = False

    @property
    def payload_json(self) -> str:
        return f'{{"name": {json.dumps(self.name)}, "data": {self.points_json}}}'


class _Text:
    """A forward-only window over a decoded text stream."""

    def __init__(self, stream: IO[bytes], on_bytes: Callable[[int], None] | None) -> None:
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._on_bytes = on_bytes
        self.buf = ""
        self.pos = 0
        self.consumed = 0  # characters dropped from the front of buf
        self.eof = False

    @property
    def offset(self) -> int:
        return self.consumed + self.pos

    def fill(self, wanted: int = LOOKAHEAD_CHARS) -> bool:
        """Make `wanted` characters available after pos if the stream has them. False at end of input."""
        while len(self.buf) - self.pos < wanted and not self.eof:
            block = self._stream.read(BLOCK_CHARS)
            if self._on_bytes:
                self._on_bytes(len(block))
            try:
                text = self._decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                raise MalformedResponse(f"is not valid UTF-8 text near byte {exc.start}") from None
            if not block:
                self.eof = True
            if self.consumed == 0 and self.pos == 0 and self.buf == "" and text.startswith("\ufeff"):
                text = text[1:]
            self.consumed += self.pos
            self.buf = self.buf[self.pos :] + text
            self.pos = 0
        return len(self.buf) > self.pos

    def skip_ws(self) -> None:
        while True:
            self.fill(1)
            match = _WS.match(self.buf, self.pos)
            assert match is not None
            self.pos = match.end()
            if self.pos < len(self.buf) or self.eof:
                return

    def peek(self) -> str:
        self.skip_ws()
        if self.pos >= len(self.buf):
            raise MalformedResponse(f"ends early (truncated) at character {self.offset}")
        return self.buf[self.pos]

    def expect(self, char: str, what: str) -> None:
        found = self.peek()
        if found != char:
            raise MalformedResponse(f"has {found!r} where {what} was expected, at character {self.offset}")
        self.pos += 1

    def value(self) -> tuple[Any, str, list[str]]:
        """Decode one JSON value. Returns (value, JSON text for jsonb, sanitizing notes)."""
        self.peek()
        wanted = LOOKAHEAD_CHARS
        while True:
            self.fill(wanted)
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                at_end = exc.pos >= len(self.buf) - 2 or exc.msg.startswith("Unterminated string")
                if at_end and not self.eof and wanted < MAX_VALUE_CHARS:
                    wanted *= 4
                    continue
                if at_end and self.eof:
                    raise MalformedResponse(f"ends early (truncated) at character {self.offset}") from None
                if at_end:
                    raise MalformedResponse(f"has a value too large to read at character {self.offset}") from None
                raise MalformedResponse(
                    f"is not valid JSON at character {self.consumed + exc.pos}: {exc.msg}"
                ) from None
            if end == len(self.buf) and not self.eof and wanted < MAX_VALUE_CHARS:
                # A number that touches the end of the buffer may continue in the next block.
                wanted *= 4
                continue
            raw = self.buf[self.pos : end]
            self.pos = end
            return value, *jsonb_safe(value, raw)


def _parse_constant(token: str) -> Any:
    return _NonFinite(token)


class _NonFinite(str):
    """A NaN/Infinity token, kept apart from an ordinary string with the same letters."""


_DECODER = json.JSONDecoder(parse_constant=_parse_constant)


def decode_for_jsonb(text: str) -> tuple[Any, str, list[str]]:
    """Decode a whole (small) JSON document: (value, text jsonb accepts, what had to change)."""
    value = _DECODER.decode(text)
    return value, *jsonb_safe(value, text)


def jsonb_safe(value: Any, raw: str) -> tuple[str, list[str]]:
    """The JSON text to store for a decoded value, and what had to change for jsonb to accept it."""
    if "\\u0000" not in raw and not _contains_non_finite(value):
        return raw, []
    notes: list[str] = []
    if _contains_non_finite(value):
        notes.append("NaN/Infinity tokens stored as strings")
    if "\\u0000" in raw:
        notes.append("\\u0000 in strings replaced by U+FFFD")
    return json.dumps(_replace_unstorable(value), ensure_ascii=False, separators=(",", ":")), notes


def _contains_non_finite(value: Any) -> bool:
    if isinstance(value, _NonFinite):
        return True
    if isinstance(value, list):
        return any(_contains_non_finite(item) for item in value)
    if isinstance(value, dict):
        return any(_contains_non_finite(item) for item in value.values())
    return False


def _replace_unstorable(value: Any) -> Any:
    if isinstance(value, _NonFinite):
        return _NON_FINITE[str(value)]
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_replace_unstorable(item) for item in value]
    if isinstance(value, dict):
        return {_replace_unstorable(key): _replace_unstorable(item) for key, item in value.items()}
    return value


def _timestamp_ms(point: Any) -> int | None:
    if isinstance(point, list) and point and isinstance(point[0], int) and not isinstance(point[0], bool):
        return point[0]
    return None


class _PieceBuilder:
    def __init__(self, series_index: int, max_points: int, max_chars: int) -> None:
        self.series_index = series_index
        self.max_points = max_points
        self.max_chars = max_chars
        self.chunk_index = 0
        self.reset()

    def reset(self) -> None:
        self.points: list[str] = []
        self.run_points = 0  # points beyond one per entry of self.points (runs hold many)
        self.chars = 0
        self.min_ms: int | None = None
        self.max_ms: int | None = None
        self.sanitized: list[str] = []
        self.plain = True

    def add(self, text: str, timestamp_ms: int | None, notes: list[str]) -> bool:
        """Add one point that is not a plain numeric pair; True when the piece is full."""
        self.plain = False
        for note in notes:
            if note not in self.sanitized:
                self.sanitized.append(note)
        return self._append(text, 1, [] if timestamp_ms is None else [timestamp_ms])

    def add_run(self, text: str) -> bool:
        """Add a run of well-formed points (one string); True when the piece is full."""
        timestamps = [int(ts) for ts in _RUN_TIMESTAMPS.findall(text)]
        return self._append(text, len(timestamps), timestamps)

    def _append(self, text: str, point_count: int, timestamps: list[int]) -> bool:
        self.points.append(text)
        self.run_points += point_count - 1
        self.chars += len(text) + 1
        if timestamps:
            low, high = min(timestamps), max(timestamps)
            self.min_ms = low if self.min_ms is None else min(self.min_ms, low)
            self.max_ms = high if self.max_ms is None else max(self.max_ms, high)
        return self.count >= self.max_points or self.chars >= self.max_chars

    @property
    def room(self) -> int:
        return self.max_points - self.count

    @property
    def count(self) -> int:
        return len(self.points) + self.run_points

    def take(self) -> Piece:
        piece = Piece(
            series_index=self.series_index,
            name="",  # set by the caller once the series' name is known
            chunk_index=self.chunk_index,
            points_json="[" + ",".join(self.points) + "]",
            point_count=self.count,
            first_ms=self.min_ms,
            last_ms=self.max_ms,
            sanitized=self.sanitized,
            is_plain_numeric=self.plain,
        )
        self.chunk_index += 1
        self.reset()
        return piece


def iter_telemetry(
    stream: IO[bytes],
    max_points: int = DEFAULT_MAX_POINTS,
    max_piece_chars: int = DEFAULT_MAX_PIECE_CHARS,
    on_bytes: Callable[[int], None] | None = None,
) -> Iterator[Piece | SeriesRejected]:
    """Yield the pieces of every series in a telemetry response, and any series that must be rejected.

    Raises MalformedResponse if the response as a whole cannot be read; pieces already yielded are
    then not to be trusted as the whole response (the caller rolls them back).
    """
    text = _Text(stream, on_bytes)
    if not text.fill(1) or text.peek() != "{":
        if text.pos >= len(text.buf):
            raise MalformedResponse("is empty")
        raise MalformedResponse("is not a JSON object (a telemetry response starts with '{')")
    text.pos += 1
    saw_series = False
    produced = False
    for key in _object_keys(text, "',' or '}'"):
        if key != "series":
            text.value()
            continue
        if text.peek() != "[":
            raise MalformedResponse("has a 'series' that is not a list")
        saw_series = True
        for item in _iter_series_list(text, max_points, max_piece_chars):
            produced = True
            yield item
    text.skip_ws()
    if text.pos < len(text.buf):
        raise MalformedResponse(f"has extra content after the JSON object, at character {text.offset}")
    if not saw_series:
        raise MalformedResponse("has no 'series' list")
    if not produced:
        raise MalformedResponse("has an empty 'series' list: no telemetry to land")


def _iter_series_list(text: _Text, max_points: int, max_chars: int) -> Iterator[Piece | SeriesRejected]:
    text.pos += 1  # '['
    index = 0
    while True:
        if text.peek() == "]":
            text.pos += 1
            return
        if index:
            text.expect(",", "',' or ']' between series")
        if text.peek() != "{":
            _, raw, _ = text.value()
            yield SeriesRejected(index, None, "is not an object with 'name' and 'data'", raw[:4096])
        else:
            yield from _iter_one_series(text, index, max_points, max_chars)
        index += 1


def _iter_one_series(text: _Text, index: int, max_points: int, max_chars: int) -> Iterator[Piece | SeriesRejected]:
    text.pos += 1  # '{'
    name: Any = None
    name_notes: list[str] = []
    builder = _PieceBuilder(index, max_points, max_chars)
    # Pieces read before the name is known (a series with "data" before "name") wait here.
    waiting: list[Piece] = []
    saw_data = False
    data_problem: str | None = None
    data_text = "[]"
    for key in _object_keys(text, "',' or '}' in a series"):
        if key == "name":
            name, _, name_notes = text.value()
            if _is_name(name):
                name = name.replace("\x00", "\ufffd")
                for piece in waiting:
                    piece.name = name
                    piece.sanitized += name_notes
                    yield piece
                waiting = []
        elif key == "data":
            saw_data = True
            if text.peek() != "[":
                _, data_text, _ = text.value()
                data_problem = "has 'data' that is not a list of [timestamp, value] points"
                continue
            for piece in _iter_points(text, builder):
                if _is_name(name):
                    piece.name = name
                    piece.sanitized += name_notes
                    yield piece
                else:
                    waiting.append(piece)
        else:
            text.value()
    label = name if _is_name(name) else None
    if label is None:
        reason = "has no 'name'" if name is None else "has a 'name' that is not a non-empty string"
        points = ",".join(piece.points_json[1:-1] for piece in waiting)
        yield SeriesRejected(index, None, reason, f'{{"name": {json.dumps(name)}, "data": [{points}]}}')
    elif not saw_data:
        yield SeriesRejected(index, label, "has no 'data'", json.dumps({"name": label}))
    elif data_problem:
        yield SeriesRejected(index, label, data_problem, f'{{"name": {json.dumps(label)}, "data": {data_text}}}')
    elif builder.chunk_index == 0:
        yield SeriesRejected(
            index, label, "has an empty 'data' list", json.dumps({"name": label, "data": []}), is_empty=True
        )


def _object_keys(text: _Text, between: str) -> Iterator[str]:
    """The keys of the JSON object whose '{' was just read, each with its ':' read: the caller reads the
    value before asking for the next key. `between` names what may follow a value, for the error."""
    first = True
    while True:
        if text.peek() == "}":
            text.pos += 1
            return
        if not first:
            text.expect(",", between)
        first = False
        key, _, _ = text.value()
        text.expect(":", "':'")
        yield key


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _iter_points(text: _Text, builder: _PieceBuilder) -> Iterator[Piece]:
    """Cut one `data` list into pieces. The cursor is on its '['."""
    text.pos += 1
    first = True
    point_match = _POINT.match
    run_match = _POINT_RUN.match
    while True:
        text.fill()
        buf, pos = text.buf, text.pos
        # Fast path: a run of well-formed points inside the buffered window.
        limit = len(buf) - (0 if text.eof else LOOKAHEAD_CHARS // 2)
        while pos < limit:
            cursor = cast(re.Match[str], _WS.match(buf, pos)).end()  # [ \t\n\r]* always matches
            if not first:
                if buf[cursor : cursor + 1] != ",":
                    break
                cursor = cast(re.Match[str], _WS.match(buf, cursor + 1)).end()
            match = (run_match if builder.room >= RUN_POINTS else point_match)(buf, cursor)
            if match is None:
                break
            first = False
            pos = match.end()
            if builder.add_run(match.group(0).translate(_STRIP_WHITESPACE)):
                text.pos = pos
                yield builder.take()
        text.pos = pos
        # Slow path: end of list, a separator, or a point the fast path does not cover.
        char = text.peek()
        if char == "]":
            text.pos += 1
            if builder.points:
                yield builder.take()
            return
        if not first:
            text.expect(",", "',' or ']' between points")
            if text.peek() == "]":
                raise MalformedResponse(f"has a trailing ',' in a data list at character {text.offset}")
        value, raw, notes = text.value()
        first = False
        if '"' not in raw:
            raw = raw.translate(_STRIP_WHITESPACE)
        # A plain point lands here too when it straddles the end of the buffered window.
        full = builder.add_run(raw) if _POINT.fullmatch(raw) else builder.add(raw, _timestamp_ms(value), notes)
        if full:
            yield builder.take()
