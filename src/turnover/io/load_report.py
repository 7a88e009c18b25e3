"""What one load of a dispensing export did (:class:`LoadReport`): the rows read, loaded and rejected, and what
the console and the run's record say about it."""

from __future__ import annotations

from dataclasses import dataclass

from turnover.io.text import printable

EXAMPLES = 5  # ids named in a summary line


@dataclass(frozen=True)
class LoadReport:
    """What one load did. ``rows_read == rows_loaded + rows_rejected`` always holds."""

    file_path: str
    file_sha256: str
    mapping: str
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    ignored_columns: tuple[str, ...] = ()
    already_loaded: bool = False
    encoding: str = ""
    refused_columns: tuple[str, ...] = ()  # "<header> (as <canonical>)": identifiers a mapping named
    rows_overlapping: int = 0  # of the rejected rows, those another file loaded already
    overlapping_files: tuple[str, ...] = ()
    replaced_files: tuple[str, ...] = ()  # earlier files whose rows this load replaced (some or all)
    rows_replaced: int = 0
    replacements: tuple[str, ...] = ()  # what of each was replaced, and why
    drugs_not_in_catalog: tuple[str, ...] | None = None  # None: no catalog loaded to check against
    suspect_ndcs: tuple[str, ...] = ()  # 7-10 digits only

    def summary(self) -> str:
        """One line for the console and the run log; control characters a file brings (in its name, headers or
        ids) shown escaped (:func:`~turnover.io.text.printable`)."""
        if self.already_loaded:
            return printable(f"{self.file_path}: already loaded (sha256 {self.file_sha256[:12]}), nothing changed")
        parts = [
            f"{self.file_path}: read {self.rows_read}, loaded {self.rows_loaded}, "
            f"rejected {self.rows_rejected} (mapping {self.mapping})"
        ]
        if self.encoding not in ("", "utf-8"):
            parts.append(f"read as {self.encoding}")
        if self.replacements:
            parts.append(f"{', '.join(self.replacements)}: moved to raw.dispensing_rejects")
        if self.rows_overlapping:
            parts.append(f"{self.rows_overlapping} rejected rows already loaded from {', '.join(self.overlapping_files)}")
        if self.refused_columns:
            parts.append(f"refused identifier columns a mapping names: {', '.join(self.refused_columns)}")
        if self.ignored_columns:
            parts.append(f"columns not read: {', '.join(self.ignored_columns)}")
        if self.drugs_not_in_catalog:
            parts.append(f"{len(self.drugs_not_in_catalog)} drug ids not in the catalog: "
                         + _examples(self.drugs_not_in_catalog))
        if self.suspect_ndcs:
            parts.append(f"{len(self.suspect_ndcs)} drug ids of 7-10 digits only (NDCs that lost leading zeros or "
                         "hyphens in a spreadsheet?): " + _examples(self.suspect_ndcs))
        return printable("; ".join(parts))


def _examples(ids: tuple[str, ...]) -> str:
    return ", ".join(ids[:EXAMPLES]) + (", ..." if len(ids) > EXAMPLES else "")
