"""A global model: one gradient-boosted tree ensemble learned across every series at once.

The approach that won the M5 competition (LightGBM, Poisson objective, lag and rolling features,
trained on all items together; Makridakis, Spiliotis & Assimakopoulos 2022, "M5 accuracy
competition", *IJF* 38(4)), here with scikit-learn's HistGradientBoostingRegressor. A global model
learns the shape of demand from many drugs, which a single short or noisy series cannot.

Design, direct multi-horizon: one model, the horizon h a feature. For a series at origin t (t
periods observed) and horizon h the target is ``y[t + h - 1] / scale`` with ``scale`` the mean of
the last year before t (so big and small movers share one model). Features: the last four periods,
means over 4, 13 and 52 periods, the same period a year before the target, the target's place in
the year (two Fourier pairs on absolute period indices), h, and the share of non-zero periods.
Poisson loss keeps forecasts non-negative. Origins are subsampled (every ``origin_step``-th) to
bound the training set.

Quantiles: the point forecast plus residuals of the same horizon resampled from the training set,
times the series' scale, clipped at zero. Training residuals flatter a tree ensemble; the
backtest-based recalibration (``turnover.calibration``) corrects the levels.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor

from turnover.models.base import DemandModel
from turnover.models.harmonic import YEAR_IN_PERIODS, fourier_terms

N_LAGS = 4


def _features(y: np.ndarray, t: int, horizons: np.ndarray, origin: int, season_length: int, period: float) -> tuple[np.ndarray, float]:
    """Feature rows for origin ``t`` of one series (one row per horizon) and the series' scale there."""
    past = y[:t]
    year = past[-season_length:]
    scale = float(year.mean()) if year.mean() > 0 else max(float(past.mean()), 1.0)
    lags = np.full(N_LAGS, np.nan)
    take = min(N_LAGS, t)
    lags[:take] = past[::-1][:take] / scale
    means = [past[-w:].mean() / scale if t >= w else np.nan for w in (4, 13, season_length)]
    target_index = t + horizons - 1
    year_ago = np.where(target_index - season_length >= 0,
                        y[np.clip(target_index - season_length, 0, len(y) - 1)] / scale, np.nan)
    # the year-ago value must itself be observed at origin t
    year_ago = np.where(target_index - season_length < t, year_ago, np.nan)
    calendar = fourier_terms(origin + target_index.astype(float), period, 2)
    share = float(np.mean(year > 0))
    fixed = np.r_[lags, means, share]
    rows = np.column_stack([np.tile(fixed, (len(horizons), 1)), year_ago, calendar, horizons])
    return rows, scale


class GlobalGBM:
    """One HistGradientBoosting model over a panel. scikit-learn style: ``fit`` returns ``self``.

    Not a per-series :class:`~turnover.models.base.DemandModel`: it fits on all histories at once
    and then draws paths for series ``i`` of the panel it was fitted on.
    """

    def __init__(self, season_length: int = 52, horizon: int = 13, origin_step: int = 4, min_history: int = 26,
                 max_iter: int = 150, seed: int = 0):
        self.season_length = season_length
        self.horizon = horizon
        self.origin_step = origin_step
        self.min_history = min_history
        self.max_iter = max_iter
        self.seed = seed

    def fit(self, histories: list[np.ndarray], origins: list[int]) -> GlobalGBM:
        """Fit on every series with at least ``min_history`` periods (``origins``: absolute index of y[0])."""
        period = YEAR_IN_PERIODS.get(self.season_length, float(self.season_length))
        horizons = np.arange(1, self.horizon + 1)
        x_rows, targets, steps = [], [], []
        for y, origin in zip(histories, origins, strict=True):
            if len(y) < self.min_history:
                continue
            for t in range(self.min_history, len(y), self.origin_step):
                h = horizons[t + horizons - 1 < len(y)]
                if len(h) == 0:
                    continue
                rows, scale = _features(y, t, h, origin, self.season_length, period)
                x_rows.append(rows)
                targets.append(y[t + h - 1] / scale)
                steps.append(h)
        if not x_rows:
            raise ValueError("GlobalGBM: no series has enough history to train on")
        x, target, step = np.vstack(x_rows), np.concatenate(targets), np.concatenate(steps)
        self.model_ = HistGradientBoostingRegressor(
            loss="poisson", max_iter=self.max_iter, learning_rate=0.05, max_leaf_nodes=31,
            min_samples_leaf=40, random_state=self.seed,
        ).fit(x, target)
        residual = target - self.model_.predict(x)
        self.residuals_ = {int(h): residual[step == h] for h in horizons if np.any(step == h)}
        self.histories_, self.origins_, self.period_ = histories, origins, period
        return self

    def predict_points(self, indices: list[int], horizon: int) -> dict[int, tuple[np.ndarray, float]]:
        """Scaled point forecasts and scales for series ``indices``, in one call of the ensemble
        (a call per series pays the trees' per-call overhead thousands of times)."""
        horizons = np.arange(1, horizon + 1)
        rows, scales, kept = [], [], []
        for i in indices:
            y = self.histories_[i]
            if len(y) < self.min_history:
                continue
            x, scale = _features(y, len(y), horizons, self.origins_[i], self.season_length, self.period_)
            rows.append(x)
            scales.append(scale)
            kept.append(i)
        if not kept:
            return {}
        points = self.model_.predict(np.vstack(rows)).reshape(len(kept), horizon)
        return {i: (points[k], scales[k]) for k, i in enumerate(kept)}

    def sample_paths(self, i: int, horizon: int, n_paths: int, rng: np.random.Generator,
                     point: tuple[np.ndarray, float] | None = None) -> np.ndarray:
        """Paths ``(n_paths, horizon)`` for series ``i`` of the fitted panel, from the end of its history.

        ``point``: this series' entry of :meth:`predict_points`, if already computed.
        """
        if point is None:
            if len(self.histories_[i]) < self.min_history:
                raise ValueError(f"GlobalGBM: series {i} has {len(self.histories_[i])} periods, needs {self.min_history}")
            point = self.predict_points([i], horizon)[i]
        scaled, scale = point
        noise = np.column_stack([
            rng.choice(self.residuals_[min(h, max(self.residuals_))], size=n_paths) for h in range(1, horizon + 1)
        ])
        return np.clip((scaled[:horizon] + noise) * scale, 0.0, None)


class GlobalSeries(DemandModel):
    """One series' view of a fitted :class:`GlobalGBM`, behind the per-series contract.

    ``fit`` learns nothing (the global model was fitted on the whole panel, this history included);
    ``sample_paths`` asks the global model for this series' paths.
    """

    min_history = 26

    def __init__(self, sampler):
        self.sampler = sampler

    def _fit(self, y: np.ndarray) -> None:
        if self.sampler is None:
            raise ValueError("global_gbm: no fitted global model for this series")

    def _sample(self, horizon: int, n_paths: int, rng: np.random.Generator) -> np.ndarray:
        return self.sampler(horizon, n_paths, rng)
