"""The demand panel: every series' history in one flat array, the form ``io`` reads it in and the forecast and
the replay take it in (so neither imports the other's side)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class DemandPanel:
    """Every series' history as one flat array, sliced per series (no per-row Python objects).

    ``units[offsets[i]:offsets[i + 1]]`` is the history of ``keys.iloc[i]``, oldest bucket first;
    NaN marks a period with no open, in-stock day (see ``turnover.forecasting.censoring``).
    """

    keys: pd.DataFrame
    offsets: np.ndarray
    units: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)

    def history(self, i: int) -> np.ndarray:
        return self.units[self.offsets[i] : self.offsets[i + 1]]

    def take(self, rows) -> DemandPanel:
        """The panel of the series at positions ``rows`` (of ``keys``), in that order."""
        pieces = [self.history(i) for i in rows]
        offsets = np.concatenate([[0], np.cumsum([len(p) for p in pieces])]).astype(np.int64)
        return DemandPanel(self.keys.iloc[list(rows)].reset_index(drop=True), offsets,
                           np.concatenate(pieces) if pieces else np.array([]))
