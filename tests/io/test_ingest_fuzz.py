"""A bounded fuzz pass over CSV ingest (issue 6): random bytes and random CSV-ish text.

Whatever the file holds, a load either ends in an ``IngestError`` whose message names the file, with
nothing written, or succeeds with rows read = loaded + rejected, matching the tables, and each of those
rows on its own line of the file (the lines counted here, apart from the ingest code; in a file without
quotes, one row on every line after the header that is not blank). Any other
exception is a bug. Run against the ingest before issue 6, this pass found two, both catalogue cases
now (test_bad_input_catalogue.py): a cut-off ``.csv.gz`` raised ``EOFError`` while reading the header
("gzip cut off in transfer", "cut-off gzip of an empty file"), and a header of a lone CR and a NUL
raised ``_csv.Error`` ("header of a lone CR and a NUL byte"). 3,000 examples against the current
ingest found nothing further; the test command runs a bounded 250.
"""

from __future__ import annotations

import gzip
import tempfile
from datetime import date
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.io.accounting import assert_accounted, assert_lines, table_counts
from turnover.io.ingest import IngestError, load_dispensing_file
from turnover.io.warehouse import connect
from turnover.settings import IngestSettings

LOAD_DAY = date(2024, 12, 31)
HEADERS = [
    "dispensed_at,location_id,drug_id,quantity",
    "dispensed_at;location_id;drug_id;quantity;drug_name",
    "dispensed_at\tlocation_id\tdrug_id\tquantity",
    "\ufeffdispensed_at,location_id,drug_id,quantity,ndc",
    "dispensed_at,location_id,drug_id,quantity,quantity",
    "datum,M01AB,M01AE,N02BA,N02BE,N05B,N05C,R03,R06",
]
# Pieces of real exports and of what goes wrong in them.
TOKENS = [
    "2024-01-02", "2024-01-02 10:00:00", "01/02/2024", "2024-13-45", "20240102", "0001-01-01", "9999-12-31",
    "S1", "STORE-03", "0004-0800-85", "50090-219-01", "1234-567-8", "5.0090E+10", "4080085", "AMOX500",
    "1", "-2", "2.5", "1e9", "1e400", "nan", "inf", "NA", "ten", "", " ", "Paracétamol", "\u00a0", "\x00",
    "\"", "\"\"", "\"quoted, value\"", "'", "\\", "#", "=cmd()", "\ufeff", "é", "\u2028",
]
SEPARATORS = [",", ",", ",", ";", "\t", "|", "\n", "\n", "\r\n", "\r", "\"", " "]


@st.composite
def csvish(draw) -> bytes:
    header = draw(st.sampled_from(HEADERS))
    pieces = draw(st.lists(st.one_of(st.sampled_from(TOKENS), st.sampled_from(SEPARATORS),
                                     st.text(max_size=6)), max_size=120))
    text = header + "\n" + "".join(pieces)
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "utf-16-be", "latin-1"]))
    return text.encode(encoding, errors="replace")


payloads = st.one_of(
    csvish(),
    st.binary(max_size=600),
    st.builds(lambda head, tail: head + tail, st.sampled_from([h.encode() + b"\n" for h in HEADERS]),
              st.binary(max_size=400)),
)


def file_lines(data: bytes, name: str, encoding: str) -> list[list[str]]:
    """The file's physical lines (``\\n``, ``\\r\\n`` and ``\\r`` each end one), decoded as the load reports: one
    list, or for UTF-16 without a byte-order mark (its order is not reported) one per byte order."""
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    if encoding != "utf-16":
        codecs = ["utf-8-sig" if encoding == "utf-8" else encoding]
    else:
        codecs = ["utf-16"] if data.startswith((b"\xff\xfe", b"\xfe\xff")) else ["utf-16-le", "utf-16-be"]
    texts = [data.decode(codec, errors="replace").replace("\r\n", "\n").replace("\r", "\n") for codec in codecs]
    return [text.removesuffix("\n").split("\n") for text in texts]


def check_lines(con, report, data: bytes, name: str) -> None:
    """:func:`assert_lines`: within the file's lines; and when it has no quote (no record spans lines), one row
    on each line after the header that is not blank."""
    decoded = file_lines(data, name, report.encoding)
    known = len(decoded) == 1 and not any('"' in line for line in decoded[0])
    lines = {n for n, line in enumerate(decoded[0], start=1) if n > 1 and line} if known else None
    assert_lines(con, report, max(len(d) for d in decoded), lines=lines)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(payloads, st.sampled_from(["export.csv", "export.txt", "export.csv.gz"]), st.integers(0, 3))
# Good rows among blank and broken lines, which random text seldom gives: the lines the rows keep are checked.
@example(b"dispensed_at,location_id,drug_id,quantity\n\n2024-01-02,S1,D1,1\n2024-01-02,S1\n\n\n2024-01-03,S1,D1,x\n"
         b"2024-01-04,S1,D1,2", "export.csv", 0)
@example("dispensed_at;location_id;drug_id;quantity;drug_name\r\n2024-01-02;S1;D1;1;A\r\n\r\n2024-01-02;S1;D1;1;A;B\r"
         "2024-01-03;S1;D1;2;B\r\n".encode("utf-16"), "export.csv.gz", 0)
def test_any_bytes_give_a_clean_refusal_or_an_accounted_load(data, name, gzip_cut):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        if name.endswith(".gz"):
            data = gzip.compress(data)
            data = data[: len(data) - gzip_cut * 4] if gzip_cut else data  # sometimes cut off in transfer
        path.write_bytes(data)
        con = connect(":memory:")
        try:
            try:
                report = load_dispensing_file(con, path, IngestSettings(), today=LOAD_DAY)
            except IngestError as exc:
                assert str(path) in str(exc)
                assert table_counts(con) == (0, 0, 0)
            else:
                assert_accounted(con, report)
                check_lines(con, report, data, name)
        finally:
            con.close()
