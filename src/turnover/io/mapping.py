"""Which column mapping reads an export, and which of its columns may be read at all.

A file gets the mapping named on the command line, else the first whose source columns are all in
its header (the canonical layout last). Source columns that look like patient or prescriber
identifiers (:mod:`turnover.io.privacy`) are refused even when a mapping names them by mistake.
"""

from __future__ import annotations

from pathlib import Path

from turnover import schema
from turnover.io.csv_files import IngestError
from turnover.io.privacy import looks_like_identifier
from turnover.settings import ColumnMapping, IngestSettings


def choose_mapping(header: list[str], path: Path, ingest: IngestSettings, name: str | None = None) -> ColumnMapping:
    """The mapping named ``name``, else the first whose source columns are all in ``header``.

    Raises:
        IngestError: no mapping fits; the message lists the columns the closest mapping misses.
    """
    mappings = ingest.all_mappings()
    if name is not None:
        chosen = [m for m in mappings if m.name == name]
        if not chosen:
            raise IngestError(f"{path}: no column mapping named {name!r} (have {[m.name for m in mappings]})")
        candidates = chosen
    else:
        candidates = mappings
    present = set(header)
    for mapping in candidates:
        if set(mapping.source_columns()) <= present:
            return mapping
    closest = min(candidates, key=lambda m: len(set(m.source_columns()) - present))
    missing = [c for c in closest.source_columns() if c not in present]
    hint = " (one column: is the delimiter something other than , ; tab or |?)" if len(header) == 1 else ""
    raise IngestError(
        f"{path}: missing required column(s) {missing} (closest mapping {closest.name!r}; header is {header}){hint}"
    )


def with_optional_columns(mapping: ColumnMapping, header: list[str]) -> ColumnMapping:
    """``mapping`` plus any optional canonical column (``drug_name``, ``ndc``) the header carries by
    its canonical name and the mapping does not map already."""
    if mapping.layout == "wide":
        return mapping
    extra = {c: c for c in schema.OPTIONAL_DISPENSING_COLUMNS if c in header and c not in mapping.columns}
    return mapping.model_copy(update={"columns": {**mapping.columns, **extra}}) if extra else mapping


def without_identifiers(mapping: ColumnMapping, path: Path) -> tuple[ColumnMapping, dict[str, str]]:
    """``mapping`` without the source columns that look like personal identifiers, and those refused as
    ``{canonical: header}`` (a wide layout's drug column ``c`` as ``"drug c"``).

    Optional columns (``drug_name``, ``ndc``, a wide layout's drug columns) are dropped.

    Raises:
        IngestError: a required column (date, location, drug id, quantity) is mapped to one.
    """
    required = [*schema.REQUIRED_DISPENSING_COLUMNS, "date_column"]
    mapped = dict(mapping.columns)
    if mapping.layout == "wide":
        mapped |= {"date_column": mapping.date_column} | {f"drug {c}": c for c in mapping.value_columns}
    refused = {canonical: header for canonical, header in mapped.items() if looks_like_identifier(header)}
    for canonical in required:
        if canonical in refused:
            raise IngestError(
                f"{path}: column {refused[canonical]!r} looks like a patient or prescriber identifier and is never "
                f"read, but mapping {mapping.name!r} maps {canonical} to it; fix the mapping"
            )
    if not refused:
        return mapping, {}
    update: dict[str, object] = {"columns": {c: h for c, h in mapping.columns.items() if c not in refused}}
    if mapping.layout == "wide":
        update["value_columns"] = [c for c in mapping.value_columns if f"drug {c}" not in refused]
    return mapping.model_copy(update=update), refused
