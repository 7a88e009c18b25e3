"""CSV exports as DuckDB can read them: encoding, byte-order mark, gzip, line endings, header, delimiter.

DuckDB's CSV reader is fast but wants clean input: it reads a UTF-16 big-endian file as no rows at
all, stops at a line ending that differs from the first, and reads a cut-off gzip stream as if it were
whole. So a CSV that is not already clean is first copied to a temporary UTF-8 file with ``\\n`` line
endings, and DuckDB reads the copy. The copy has the same physical lines as the original (``\\r\\n``,
``\\r`` and ``\\n`` each end one line), so the line numbers DuckDB reports are the file's own.

A clean file (not gzip, no byte-order mark or UTF-16, valid UTF-8, no ``\\r``: the copy would be the
same bytes) is read where it is. :func:`scan_file` tells which while it hashes the file, in the one
pass over its bytes the ledger needs anyway, and finds its blank lines on the way.

Encoding: a UTF-16 byte-order mark means UTF-16; a first line with a NUL byte at every other position
means UTF-16 without a mark; otherwise UTF-8 (with or without a mark) when the whole file decodes
as UTF-8, else Latin-1, in which every byte is a character (Windows-1252 punctuation such as curly
quotes then reads as control characters in text columns; ids, dates and numbers are ASCII).

Header: line 1. The delimiter is the candidate (``, ; tab |``) most frequent in it. Blank names
become ``column<N>``; a name that appears twice keeps its first position and later copies are
renamed ``<name> (<N>)`` (reading one of them is refused by the caller as ambiguous).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import re
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from turnover.io.text import printable

DELIMITERS = (",", ";", "\t", "|")
CHUNK_CHARS = 1 << 20
SCAN_BYTES = 1 << 22
MAX_HEADER_CHARS = 1 << 20
# Control characters but the line break (C0 and DEL; a tab counts): an id holding one is rejected, and ingest checks
# ids for them only in a file that has one somewhere (the check costs a fifth of a load).
CONTROL_BYTES = bytes([*range(10), *range(11, 32), 127])
CONTROL_TEXT = re.compile("[\x00-\x09\x0b-\x1f\x7f]")


class IngestError(ValueError):
    """A file cannot be loaded at all; the message names the file (and line and column where one is at fault).

    The message is :func:`~turnover.io.text.printable`: a file name, header or value it quotes prints as text.
    """

    def __init__(self, message: str) -> None:
        super().__init__(printable(message))


@dataclass(frozen=True)
class CsvText:
    """A CSV export copied as UTF-8 with ``\\n`` line endings, and what was learnt reading it."""

    path: Path  # the copy DuckDB reads (a clean file itself)
    encoding: str  # of the original: utf-8, utf-16 or latin-1
    delimiter: str
    columns: tuple[str, ...]  # unique header names, in file order
    duplicated: tuple[str, ...]  # header names that appear more than once
    blank_lines: tuple[int, ...]  # physical lines with nothing on them (DuckDB skips them)
    controls: bool = True  # some character of CONTROL_BYTES is in the text

    def reader_params(self) -> dict[str, object]:
        """The parameters of ``staging.csv_reader``'s ``read_csv``: the copy, its delimiter, every column as text."""
        return {"path": str(self.path), "delim": self.delimiter, "columns": {n: "VARCHAR" for n in self.columns}}


@dataclass(frozen=True)
class FileScan:
    """One pass over a file's bytes: its SHA-256 and, for a CSV, whether DuckDB can read it as it is."""

    sha256: str
    clean: bool = False  # not gzip, UTF-8 without a mark (valid throughout), no "\r": the copy would be the same bytes
    blank_lines: tuple[int, ...] = ()  # of a clean file (CsvText.blank_lines)
    controls: bool = True  # of a clean file (CsvText.controls)


def scan_file(path: Path, probe: bool = True) -> FileScan:
    """The SHA-256 of ``path``'s bytes (as ``warehouse.file_sha256``) and, if ``probe`` (a CSV), whether it is clean
    and which of its lines are blank (:class:`FileScan`). A Latin-1 file is found unclean at its first byte that is
    not UTF-8; only then is it decoded a second time, by the copy.

    Raises:
        OSError: the file cannot be read.
    """
    digest = hashlib.sha256()
    blank: list[int] = []
    newlines, last = 0, b"\n"  # so that a file starting with "\n" has a blank line 1
    controls = False
    decoder = None  # from the first chunk that is not ASCII: UTF-8 sequences may cross chunks
    with open(path, "rb") as raw:
        chunk = raw.read(SCAN_BYTES)
        clean = probe and path.suffix.lower() != ".gz" and detect_encoding(chunk[: 1 << 16]) == "utf-8"
        while chunk:
            digest.update(chunk)
            if clean and b"\r" in chunk:
                clean = False
            if clean and (decoder is not None or not chunk.isascii()):
                decoder = decoder or codecs.getincrementaldecoder("utf-8")()
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    clean = False
            if clean:
                codes = np.frombuffer(chunk, np.uint8)
                is_break = codes == 10
                breaks = int(np.count_nonzero(is_break))
                controls = controls or _holds_control(codes, breaks)
                if (last == b"\n" and chunk[:1] == b"\n") or (is_break[1:] & is_break[:-1]).any():
                    blank += _blank_lines(chunk, last, newlines)  # numpy rules most chunks out in a tenth of its time
                newlines += breaks
                last = chunk[-1:]
            chunk = raw.read(SCAN_BYTES)
    if clean and decoder is not None:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            clean = False  # the file ends inside a UTF-8 sequence
    return FileScan(digest.hexdigest(), True, tuple(blank), controls) if clean else FileScan(digest.hexdigest())


def _holds_control(codes: np.ndarray, breaks: int) -> bool:
    """Whether the bytes ``codes``, of which ``breaks`` are "\\n", hold one of :data:`CONTROL_BYTES` (every byte below
    32 but "\\n", and DEL): counted with numpy, a third of the time ``bytes.translate`` takes."""
    return int(np.count_nonzero(codes < 32)) != breaks or bool(np.count_nonzero(codes == 127))


def detect_encoding(head: bytes) -> str:
    """A Python codec for a file starting with ``head`` (UTF-8 is confirmed later on the whole file)."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    first = head.split(b"\n\x00", 1)[0].split(b"\x00\n", 1)[0][:2000]
    if len(first) >= 4 and first[1::2].count(0) == len(first[1::2]) and 0 not in first[0::2]:
        return "utf-16-le"
    if len(first) >= 4 and first[0::2].count(0) == len(first[0::2]) and 0 not in first[1::2]:
        return "utf-16-be"
    return "utf-8"


def _file_encoding(path: Path) -> str:
    """:func:`detect_encoding` of the file's first 64 KiB (decompressed)."""
    with _open_bytes(path) as raw:
        return detect_encoding(raw.read(1 << 16))


def _open_bytes(path: Path) -> BinaryIO:
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


@contextmanager
def _readable(path: Path) -> Iterator[None]:
    """Turn what reading a damaged or unreadable file raises into one clear error."""
    try:
        yield
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise IngestError(f"{path}: not a complete gzip file ({exc}); was it cut off in transfer?") from exc
    except OSError as exc:
        raise IngestError(f"{path}: cannot read: {exc}") from exc


# A blank line's "\n" and the one before it. re finds this literal twice as fast as str/bytes.find.
DOUBLE_NEWLINE = {str: re.compile("\n\n"), bytes: re.compile(b"\n\n")}


def _blank_lines(chunk: str | bytes, previous: str | bytes, newlines: int) -> list[int]:
    """Numbers of the blank lines ending in ``chunk`` (text, or bytes of a clean file): each "\n" right after
    another "\n".

    ``previous`` is the last character before the chunk, ``newlines`` the "\n" before it.
    """
    newline = "\n" if isinstance(chunk, str) else b"\n"
    double = DOUBLE_NEWLINE[type(chunk)]
    ends = [0] if previous == newline and chunk.startswith(newline) else []  # type: ignore[arg-type]
    found = double.search(chunk)  # type: ignore[arg-type]
    while found:
        ends.append(found.start() + 1)
        found = double.search(chunk, found.start() + 1)  # type: ignore[arg-type]
    numbers, counted, seen = [], 0, newlines
    for end in ends:
        seen += chunk.count(newline, counted, end)  # type: ignore[arg-type]
        counted = end
        numbers.append(seen + 1)
    return numbers


def _copy(path: Path, encoding: str, target: Path) -> tuple[tuple[int, ...], bool]:
    """Copy ``path`` decoded with ``encoding`` to ``target`` (UTF-8, "\n"); returns its blank lines and whether a
    control character (``CONTROL_TEXT``) is in it.

    Raises:
        UnicodeDecodeError: the file is not in ``encoding``.
    """
    blank: list[int] = []
    newlines, previous = 0, "\n"  # so that a file starting with "\n" has a blank line 1
    controls = False
    with (
        _open_bytes(path) as raw,
        io.TextIOWrapper(raw, encoding=encoding, newline=None) as text,  # universal newlines -> "\n"
        open(target, "w", encoding="utf-8", newline="") as out,
    ):
        while chunk := text.read(CHUNK_CHARS):
            out.write(chunk)
            controls = controls or CONTROL_TEXT.search(chunk) is not None
            blank += _blank_lines(chunk, previous, newlines)
            newlines += chunk.count("\n")
            previous = chunk[-1]
    return tuple(blank), controls


def parse_header(path: Path, first: str) -> tuple[str, list[str]]:
    """The delimiter and the (stripped) names of header line ``first``.

    Raises:
        IngestError: the line is empty, blank, overlong or not parseable.
    """
    if len(first) >= MAX_HEADER_CHARS and not first.endswith("\n"):
        raise IngestError(f"{path}: line 1: header longer than {MAX_HEADER_CHARS:,} characters; not a CSV export?")
    if not first:
        raise IngestError(f"{path}: empty file (no header line)")
    first = first.rstrip("\n")
    if not first.strip():
        raise IngestError(f"{path}: line 1 is blank (the header must be on line 1)")
    counts = {d: first.count(d) for d in DELIMITERS}
    delimiter = max(counts, key=counts.__getitem__) if any(counts.values()) else ","
    try:
        names = next(csv.reader([first], delimiter=delimiter, strict=True), [])
    except csv.Error as exc:
        raise IngestError(f"{path}: line 1: cannot read the header: {exc}") from exc
    return delimiter, [n.strip() for n in names]


def unique_names(names: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Header names made unique (blank -> ``column<N>``, repeats -> ``<name> (<N>)``), and the repeated names."""
    out: list[str] = []
    for position, name in enumerate(names, start=1):
        name = name or f"column{position}"
        candidate, n = name, 1
        while candidate in out:
            n += 1
            candidate = f"{name} ({n})"
        out.append(candidate)
    duplicated = tuple(sorted({n for n in names if n and names.count(n) > 1}))
    return tuple(out), duplicated


def _header(path: Path, text_path: Path) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """The delimiter, unique column names and repeated names of ``path`` from line 1 of ``text_path`` (UTF-8:
    the file itself or its copy).

    Raises:
        IngestError: see :func:`parse_header`.
    """
    with open(text_path, encoding="utf-8", newline="") as handle:
        delimiter, names = parse_header(path, handle.readline(MAX_HEADER_CHARS))
    return delimiter, *unique_names(names)


@contextmanager
def csv_text(path: Path, scan: FileScan | None = None) -> Iterator[CsvText]:
    """``path`` as DuckDB can read it: the file itself when ``scan`` found it clean, else a copy in a temporary
    file, removed when the block ends.

    Raises:
        IngestError: an empty file, a blank or overlong header, a damaged gzip stream, or an unreadable file.
    """
    if scan is not None and scan.clean:
        with _readable(path):
            delimiter, columns, duplicated = _header(path, path)
        yield CsvText(path, "utf-8", delimiter, columns, duplicated, scan.blank_lines, scan.controls)
        return
    with tempfile.TemporaryDirectory(prefix="turnover-ingest-") as tmp:
        copy = Path(tmp) / "export.csv"
        with _readable(path):
            encoding = _file_encoding(path)
            try:
                blank, controls = _copy(path, encoding, copy)
            except UnicodeDecodeError:
                encoding = "latin-1"  # every byte decodes: nothing is lost
                blank, controls = _copy(path, encoding, copy)
        delimiter, columns, duplicated = _header(path, copy)
        label = {"utf-8-sig": "utf-8", "utf-16-le": "utf-16", "utf-16-be": "utf-16"}.get(encoding, encoding)
        yield CsvText(copy, label, delimiter, columns, duplicated, blank, controls)


def refuse_repeated(path: Path, text: CsvText | None, names: Iterable[str], why: str = "") -> None:
    """Refuse ``path`` when one of the columns it must read (``names``, in the order given) appears more than once
    in its header (``why`` ends the message).

    Raises:
        IngestError: naming those columns.
    """
    if text is None:
        return  # a Parquet file's column names are unique
    ambiguous = [name for name in names if name in text.duplicated]
    if ambiguous:
        raise IngestError(f"{path}: line 1: column(s) {ambiguous} appear more than once in the header{why}")


def duckdb_csv_error(exc: Exception) -> str:
    """DuckDB's CSV error in one line: ``line N: <what is wrong>`` when it names a line."""
    text = str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = re.search(r"CSV Error on Line: (\d+)", text)
    what = next((item for item in lines if item.startswith(("Expected Number", "Value with", "Invalid unicode",
                                                             "Maximum line size"))), lines[0] if lines else "")
    return f"line {line.group(1)}: {what}" if line else what
