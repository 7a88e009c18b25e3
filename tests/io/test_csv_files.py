"""The CSV copy DuckDB reads: same lines, blank lines found wherever the read chunks split the text."""

from __future__ import annotations

import pytest

from turnover.io import csv_files
from turnover.io.csv_files import csv_text, detect_encoding, unique_names

TEXT = "a,b\r\n\r\n1,2\r\n\n\n3,4\r5,6\n\n"  # blank lines 2, 4, 5 and 8; CR, LF and CRLF endings


@pytest.mark.parametrize("chunk_chars", [1, 2, 3, 5, 1 << 20])
def test_the_copy_keeps_every_line_and_finds_the_blank_ones_across_chunk_boundaries(tmp_path, monkeypatch, chunk_chars):
    monkeypatch.setattr(csv_files, "CHUNK_CHARS", chunk_chars)
    path = tmp_path / "x.csv"
    path.write_bytes(TEXT.encode())
    with csv_text(path) as text:
        assert text.path.read_text(encoding="utf-8") == "a,b\n\n1,2\n\n\n3,4\n5,6\n\n"
        assert text.blank_lines == (2, 4, 5, 8)
        assert (text.delimiter, text.columns) == (",", ("a", "b"))


@pytest.mark.parametrize(("head", "codec"), [
    (b"\xef\xbb\xbfa,b\n", "utf-8-sig"), (b"\xff\xfea\x00,\x00", "utf-16"), (b"\xfe\xff\x00a\x00,", "utf-16"),
    ("a,b\n".encode("utf-16-le"), "utf-16-le"), ("a,b\n".encode("utf-16-be"), "utf-16-be"), (b"a,b\n", "utf-8"),
    ("é,b\n".encode("latin-1"), "utf-8"),  # confirmed on the whole file; Latin-1 when it fails
])
def test_the_encoding_is_told_from_the_mark_or_the_nul_bytes_of_the_first_line(head, codec):
    assert detect_encoding(head) == codec


def test_blank_and_repeated_header_names_are_made_unique_and_repeats_named():
    assert unique_names(["a", "", "a", "b", "a"]) == (("a", "column2", "a (2)", "b", "a (3)"), ("a",))
