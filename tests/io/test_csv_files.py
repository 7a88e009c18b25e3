"""The CSV copy DuckDB reads: same lines, blank lines found wherever the read chunks split the text (of the copy,
or of a clean file's scan)."""

from __future__ import annotations

from datetime import date

import pytest

from turnover import schema
from turnover.io import csv_files
from turnover.io.csv_files import csv_text, detect_encoding, scan_file, unique_names
from turnover.io.ingest import load_dispensing_file
from turnover.io.warehouse import connect
from turnover.settings import IngestSettings

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


# A clean file (read where it is): blank lines 3, 5, 6 and 9; a broken line 8 and a bad quantity on line 10.
CLEAN = b"dispensed_at,location_id,drug_id,quantity\n2024-01-02,S1,D1,1\n\n2024-01-03,S1,D1,2\n\n\n" \
        b"2024-01-04,S1,D1,3\n2024-01-04,S1\n\n2024-01-05,S1,D1,x\n"


@pytest.mark.parametrize("scan_bytes", [1, 2, 3, 7, 61, 82, 1 << 22])
def test_the_scan_of_a_clean_file_finds_its_blank_lines_across_chunk_boundaries(tmp_path, monkeypatch, scan_bytes):
    # 61 ends the first chunk between the newlines of line 2 and blank line 3, 82 between blank lines 5 and 6.
    monkeypatch.setattr(csv_files, "SCAN_BYTES", scan_bytes)
    path = tmp_path / "clean.csv"
    path.write_bytes(CLEAN)
    scan = scan_file(path)
    assert scan.clean and scan.blank_lines == (3, 5, 6, 9)
    with csv_text(path, scan) as text:
        assert text.path == path and text.blank_lines == (3, 5, 6, 9)
    con = connect(":memory:")
    try:
        report = load_dispensing_file(con, path, IngestSettings(), today=date(2024, 6, 30), scan=scan)
        assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (5, 3, 2)
        assert con.execute(f"select line from {schema.DISPENSING} order by line").fetchall() == [(2,), (4,), (7,)]
        assert con.execute(f"select line from {schema.DISPENSING_REJECTS} order by line").fetchall() == [(8,), (10,)]
    finally:
        con.close()


@pytest.mark.parametrize(("head", "codec"), [
    (b"\xef\xbb\xbfa,b\n", "utf-8-sig"), (b"\xff\xfea\x00,\x00", "utf-16"), (b"\xfe\xff\x00a\x00,", "utf-16"),
    ("a,b\n".encode("utf-16-le"), "utf-16-le"), ("a,b\n".encode("utf-16-be"), "utf-16-be"), (b"a,b\n", "utf-8"),
    ("é,b\n".encode("latin-1"), "utf-8"),  # confirmed on the whole file; Latin-1 when it fails
])
def test_the_encoding_is_told_from_the_mark_or_the_nul_bytes_of_the_first_line(head, codec):
    assert detect_encoding(head) == codec


def test_blank_and_repeated_header_names_are_made_unique_and_repeats_named():
    assert unique_names(["a", "", "a", "b", "a"]) == (("a", "column2", "a (2)", "b", "a (3)"), ("a",))
