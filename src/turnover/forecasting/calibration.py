"""Quantile recalibration from backtest PITs, pooled per model.

If a model's forecasts were calibrated, the PIT of the actual under its paths would be uniform and
the path quantile at level a would cover the actual with probability a. Backtests show how far from
that each model is. For a target service level t, the level to read off the paths is the empirical
t-quantile of the model's pooled PITs, a' = G^-1(t): then P(PIT <= a') = t over the backtest
(quantile recalibration: Kuleshov, Fenner & Ermon 2018, "Accurate uncertainties for deep learning
using calibrated regression", ICML; a split-conformal correction on the PIT scale).

PITs are pooled over the series that chose the model, and over either the first periods of each
fold (the periods a par level covers) or all of them (the forecast CSV's per-period quantiles).
Coverage is reported raw (a = t) and recalibrated, the latter out of fold: each fold is scored with
the map fitted on the other folds. A chain's millions of PITs are thinned evenly to ``MAX_PITS`` per model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MIN_PITS = 40  # below this a model keeps its own levels: too few to estimate a 95% quantile
MAX_LEVEL = 0.999
MAX_PITS = 200_000  # per model: more only slow the quantiles down (their error is already ~0.001)


@dataclass(frozen=True)
class Calibration:
    """``levels[model][target]`` = the path quantile level that meets ``target`` in backtests."""

    levels: dict[str, dict[float, float]]

    def level(self, model: str, target: float) -> float:
        return self.levels.get(model, {}).get(round(target, 6), target)


def recalibrated_level(pits: np.ndarray, target: float) -> float:
    return float(np.clip(np.quantile(pits, target), 0.01, MAX_LEVEL))


def fit_calibration(pits: pd.DataFrame, targets: tuple[float, ...]) -> tuple[Calibration, pd.DataFrame]:
    """The recalibration map and its coverage report.

    Args:
        pits: one row per scored period, columns ``model``, ``fold`` (cutoff rank), ``pit``.
        targets: levels to calibrate (the forecast quantiles and the service level).
    """
    levels: dict[str, dict[float, float]] = {}
    report = []
    for model, rows in pits.groupby("model", sort=True):
        every = -(-len(rows) // MAX_PITS)  # thinned evenly (rows come series by series)
        u = rows["pit"].to_numpy()[::every]
        folds = rows["fold"].to_numpy()[::every]
        enough = len(u) >= MIN_PITS
        levels[model] = {}
        for target in targets:
            level = recalibrated_level(u, target) if enough else target
            levels[model][round(target, 6)] = level
            out_of_fold = []
            for fold in np.unique(folds):
                held = folds == fold
                if enough and (~held).sum() >= MIN_PITS:
                    out_of_fold.append(u[held] <= recalibrated_level(u[~held], target))
                else:
                    out_of_fold.append(u[held] <= target)
            report.append({
                "model": model, "target_level": target, "calibrated_level": level, "n_pits": len(u),
                "coverage_raw": float(np.mean(u <= target)),
                "coverage_calibrated": float(np.mean(np.concatenate(out_of_fold))),
            })
    return Calibration(levels), pd.DataFrame(report)
