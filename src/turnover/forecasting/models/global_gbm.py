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
Poisson loss keeps forecasts non-negative. Origins are subsampled (every ``origin_step``-th) and, in a
big panel, series too (at most ``max_train_series``, evenly spread: 200 series of three years give ~85k
training rows, 0.7 s of fitting on one core against 2.6 s for 400), so training costs the same for 200
series or 60,000; every series is still forecast.

Quantiles: the point forecast plus residuals of the same horizon resampled from the training set,
times the series' scale, clipped at zero. Residuals are pooled by regime (share of non-zero periods in
the last year: under 0.5, 0.5-0.9, 0.9 and over): a scaled week of a slow mover can be ten times its
mean, and pooled with those a steady drug's quantiles were absurd (atorvastatin's 92% quantile of
demand over 9 days at 1.8 times its mean). Training residuals flatter a tree ensemble; the
backtest-based recalibration (``turnover.forecasting.calibration``) corrects the levels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor

from turnover.forecasting.models.base import DemandModel
from turnover.forecasting.models.batch import by_length
from turnover.forecasting.models.harmonic import YEAR_IN_PERIODS, fourier_terms

N_LAGS = 4
SHARE_COLUMN = N_LAGS + 3  # the share of non-zero periods in the last year, among the features
#: Residuals are pooled by how regularly a series is used (share of non-zero periods in its last year):
#: a steady drug's spread is not a slow mover's. Regime r holds shares in [REGIMES[r], REGIMES[r + 1]).
REGIMES = (0.0, 0.5, 0.9)
MIN_REGIME_RESIDUALS = 200  # fewer: that regime draws from all series' residuals of the horizon


def regime(share: np.ndarray) -> np.ndarray:
    """The residual regime of each share of non-zero periods (see ``REGIMES``)."""
    return np.searchsorted(REGIMES, share, side="right") - 1


def _features(Y: np.ndarray, t: int, horizons: np.ndarray, origin: int, season_length: int,
              period: float) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows for origin ``t`` of each row of ``Y`` (equal lengths, same ``origin``): one row per
    series and horizon, series-major; and each series' scale there."""
    rows = len(Y)
    past = Y[:, :t]
    year = past[:, -season_length:]
    year_mean = year.mean(axis=1)
    scale = np.where(year_mean > 0, year_mean, np.maximum(past.mean(axis=1), 1.0))
    lags = np.full((rows, N_LAGS), np.nan)
    take = min(N_LAGS, t)
    lags[:, :take] = past[:, ::-1][:, :take] / scale[:, None]
    means = np.column_stack([past[:, -w:].mean(axis=1) / scale if t >= w else np.full(rows, np.nan)
                             for w in (4, 13, season_length)])
    share = (year > 0).mean(axis=1)
    target_index = t + horizons - 1
    back = target_index - season_length
    # the year-ago value must itself be observed at origin t
    known = (back >= 0) & (back < t)
    year_ago = np.where(known[None, :], Y[:, np.clip(back, 0, Y.shape[1] - 1)] / scale[:, None], np.nan)
    calendar = fourier_terms(origin + target_index.astype(float), period, 2)
    fixed = np.column_stack([lags, means, share])
    out = np.column_stack([
        np.repeat(fixed, len(horizons), axis=0), year_ago.reshape(-1), np.tile(calendar, (rows, 1)),
        np.tile(horizons, rows),
    ])
    return out, scale


class GlobalGBM:
    """One HistGradientBoosting model over a panel. scikit-learn style: ``fit`` returns ``self``.

    Not a per-series :class:`~turnover.forecasting.models.base.DemandModel`: it fits on all histories at once
    and then draws paths for series ``i`` of the panel it was fitted on.
    """

    def __init__(self, season_length: int = 52, horizon: int = 13, origin_step: int = 4, min_history: int = 26,
                 max_iter: int = 150, seed: int = 0, max_train_series: int = 200):
        self.season_length = season_length
        self.horizon = horizon
        self.origin_step = origin_step
        self.min_history = min_history
        self.max_iter = max_iter
        self.seed = seed
        self.max_train_series = max_train_series

    def fit(self, histories: list[np.ndarray], origins: list[int]) -> GlobalGBM:
        """Fit on the series with at least ``min_history`` periods (``origins``: absolute index of y[0]);
        on at most ``max_train_series`` of them, evenly spread over the panel, when there are more."""
        period = YEAR_IN_PERIODS.get(self.season_length, float(self.season_length))
        horizons = np.arange(1, self.horizon + 1)
        eligible = [i for i, y in enumerate(histories) if len(y) >= self.min_history]
        if len(eligible) > self.max_train_series:
            eligible = [eligible[k] for k in np.linspace(0, len(eligible) - 1, self.max_train_series).astype(int)]
        x_rows, targets, steps = [], [], []
        # Series of equal length and origin share every training origin: one feature call per origin.
        for n, group in by_length(histories, eligible).items():
            by_origin: dict[int, list[int]] = {}
            for i in group:
                by_origin.setdefault(origins[i], []).append(i)
            for origin, members in by_origin.items():
                Y = np.vstack([histories[i] for i in members])
                for t in range(self.min_history, n, self.origin_step):
                    h = horizons[t + horizons - 1 < n]
                    if len(h) == 0:
                        continue
                    rows, scale = _features(Y, t, h, origin, self.season_length, period)
                    x_rows.append(rows)
                    targets.append((Y[:, t + h - 1] / scale[:, None]).ravel())
                    steps.append(np.tile(h, len(members)))
        if not x_rows:
            raise ValueError("GlobalGBM: no series has enough history to train on")
        x, target, step = np.vstack(x_rows), np.concatenate(targets), np.concatenate(steps)
        self.model_ = HistGradientBoostingRegressor(
            loss="poisson", max_iter=self.max_iter, learning_rate=0.05, max_leaf_nodes=31,
            min_samples_leaf=40, random_state=self.seed,
        ).fit(x, target)
        residual = target - self.model_.predict(x)
        regimes = regime(x[:, SHARE_COLUMN])
        self.residuals_ = {int(h): _thinned(residual[step == h]) for h in horizons if np.any(step == h)}
        self.regime_residuals_ = {
            (int(h), r): _thinned(residual[(step == h) & (regimes == r)]) for h in horizons for r in range(len(REGIMES))
            if np.count_nonzero((step == h) & (regimes == r)) >= MIN_REGIME_RESIDUALS}
        self.histories_, self.origins_, self.period_ = histories, origins, period
        return self

    def predict_points(self, indices: list[int], horizon: int) -> dict[int, tuple[np.ndarray, float, int]]:
        """Scaled point forecasts, scales and residual regimes for series ``indices``, in one call of the
        ensemble (a call per series pays the trees' per-call overhead thousands of times)."""
        horizons = np.arange(1, horizon + 1)
        rows, scales, regimes, kept = [], [], [], []
        kept_indices = [i for i in indices if len(self.histories_[i]) >= self.min_history]
        for n, group in by_length(self.histories_, kept_indices).items():
            by_origin: dict[int, list[int]] = {}
            for i in group:
                by_origin.setdefault(self.origins_[i], []).append(i)
            for origin, members in by_origin.items():
                Y = np.vstack([self.histories_[i] for i in members])
                x, scale = _features(Y, n, horizons, origin, self.season_length, self.period_)
                rows.append(x)
                scales.append(scale)
                regimes.append(regime(x[:: len(horizons), SHARE_COLUMN]))
                kept.extend(members)
        if not kept:
            return {}
        points = self.model_.predict(np.vstack(rows)).reshape(len(kept), horizon)
        scale, regime_of = np.concatenate(scales), np.concatenate(regimes)
        return {i: (points[k], float(scale[k]), int(regime_of[k])) for k, i in enumerate(kept)}

    def noise(self) -> ResidualNoise:
        return ResidualNoise(self.residuals_, self.regime_residuals_)

    def sample_paths(self, i: int, horizon: int, n_paths: int, rng: np.random.Generator,
                     point: tuple[np.ndarray, float, int] | None = None) -> np.ndarray:
        """Paths ``(n_paths, horizon)`` for series ``i`` of the fitted panel, from the end of its history.

        ``point``: this series' entry of :meth:`predict_points`, if already computed.
        """
        if point is None:
            if len(self.histories_[i]) < self.min_history:
                raise ValueError(f"GlobalGBM: series {i} has {len(self.histories_[i])} periods, needs {self.min_history}")
            point = self.predict_points([i], horizon)[i]
        return self.noise().paths([point], rng.random((1, n_paths, horizon)))[0]


@dataclass(frozen=True)
class ResidualNoise:
    """The global model's training residuals per horizon, and per horizon and regime: all a batch needs to
    draw paths from points (the fitted trees and the panel's histories stay where the model was fitted)."""

    residuals: dict[int, np.ndarray]
    by_regime: dict[tuple[int, int], np.ndarray]

    def paths(self, points: list[tuple[np.ndarray, float, int]], U: np.ndarray) -> np.ndarray:
        """Paths ``(series, paths, horizon)`` from :meth:`GlobalGBM.predict_points` entries (scaled points,
        scale, regime): each period's residual resampled (by the uniforms ``U``) from the training residuals
        of that horizon and the series' regime, times the scale, clipped at zero."""
        horizon = U.shape[2]
        scaled = np.vstack([p[0][:horizon] for p in points])
        scales = np.array([p[1] for p in points])
        regimes = np.array([p[2] for p in points])
        noise = np.empty(U.shape)
        for h in range(horizon):
            step = min(h + 1, max(self.residuals))
            for r in np.unique(regimes):
                rows = regimes == r
                pool = self.by_regime.get((step, int(r)), self.residuals[step])
                index = np.minimum((U[rows, :, h] * len(pool)).astype(np.int64), len(pool) - 1)
                noise[rows, :, h] = pool[index]
        paths = np.clip((scaled[:, None, :] + noise) * scales[:, None, None], 0.0, None)
        return paths.astype(np.float32)


def _thinned(residuals: np.ndarray, most: int = 4000) -> np.ndarray:
    """At most ``most`` residuals, at evenly spaced quantiles (resampling from them draws from the same
    distribution; a smaller pool travels to batch workers cheaply)."""
    if len(residuals) <= most:
        return residuals
    return np.sort(residuals)[((np.arange(most) + 0.5) * len(residuals) / most).astype(np.int64)]


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
