"""Pass 1 for a batch of series: backtest each series' candidates on rolling origins and choose, with the reason.

The series of equal history length and candidates are backtested together (one array operation per model and
fold, :mod:`turnover.forecasting.fitting`). The chosen models' PITs go to the pooled recalibration (pass 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from turnover import calendar
from turnover.forecasting import backtest
from turnover.forecasting.candidates import choose_model
from turnover.forecasting.censoring import censored_panel
from turnover.forecasting.fitting import Group, group_paths, min_history, quiet_fitting
from turnover.forecasting.models import BORROWED_PROFILE, COMBINATION, GLOBAL_GBM
from turnover.forecasting.work import GROUP_ROWS, PanelWork, stacked, uniforms

SCORE_COLUMNS = ["location_id", "drug_id", "model", "train_periods", "mase", "scaled_pinball", "coverage_q95",
                 "window_pinball", "chosen"]


PIT_COLUMNS = ["series", "model", "fold", "horizon", "pit"]


def backtest_key(work: PanelWork, i: int) -> tuple:
    """Series backtested together: equal history length, candidates and candidates of earlier folds."""
    return len(work.histories[i]), tuple(work.candidates[i]), _earlier_candidates(work, i)


@dataclass(frozen=True)
class Selected:
    """One batch's pass 1: backtest scores, the chosen models' PITs, and the choices."""

    scores: pd.DataFrame  # SCORE_COLUMNS
    pits: pd.DataFrame  # model, fold, horizon, pit
    chosen: list[tuple[str, str]]
    by_backtest: list[bool]


def select_batch(work: PanelWork) -> Selected:
    """Pass 1 for a batch: backtest each series' candidates on rolling origins and choose, the series of
    equal length and candidates together."""
    settings = work.settings
    season_length = calendar.SEASON_LENGTH[settings.period]
    unit = "weeks" if settings.period == "week" else "months"
    chosen: list[tuple[str, str] | None] = [None] * len(work)
    by_backtest = [False] * len(work)
    score_frames, pit_frames = [], []
    for rows in work.groups(partial(backtest_key, work), GROUP_ROWS["backtest"]):
        candidates = work.candidates[rows[0]]
        if not candidates:
            for i in rows:
                chosen[i] = choose_model(work.histories[i], season_length, settings)
            continue
        tried = [*candidates, *_earlier_candidates(work, rows[0])]
        Y = np.vstack([work.histories[i] for i in rows])
        raw = np.vstack([work.raw[i] for i in rows])
        n_folds, horizon = settings.backtest_cutoffs, work.horizon_fc
        U, ties, rngs = uniforms(work, rows, 1, (n_folds, settings.backtest_paths, horizon), (n_folds, horizon))
        fold_contexts = [[view.context(work.contexts[i], work.keys[i][1]) for i in rows] for view in work.folds]

        def fold_fit(name: str, train: np.ndarray, fold: int, rows=rows, U=U, rngs=rngs, contexts=fold_contexts):
            if name == GLOBAL_GBM:
                points = [work.global_folds.get(i, {}).get(fold) for i in rows]
                if any(p is None for p in points) or fold not in work.global_noise:
                    return None
                return work.global_noise[fold].paths(points, U[:, fold])
            return group_paths(name, train, U[:, fold], Group(contexts[fold], rngs))

        def known(c: int, raw=raw) -> np.ndarray:
            # the fold's history with its censored periods filled from the fold's own span
            return np.vstack(censored_panel(list(raw[:, :c]), season_length, settings.censor)[0]).reshape(len(raw), c)

        def allowed(name: str, fold: int, rows=rows) -> np.ndarray:
            return np.array([name in work.folds[fold].candidates[i] for i in rows])

        least = {m: h for m in tried if (h := min_history(m, work.contexts[rows[0]])) is not None}
        with quiet_fitting():
            scores = backtest.backtest_batch(
                Y, [m for m in tried if m in least], fit=fold_fit, min_history=least, horizon=horizon,
                n_cutoffs=n_folds, step=work.step, service_level=work.service_levels[rows],
                season_length=season_length, ties=ties, known=known, allowed=allowed,
                members=[m for m in candidates if m in least], window=_par_windows(work, rows, horizon))
        best = backtest.select(scores, settings.selection_metric, candidates, settings.selection_tolerance)
        score_frames.append(_score_frame(work, rows, scores, best))
        pit_frames.append(_pit_frame(rows, scores, best, Y.shape[1], horizon, work.step))
        for r, i in enumerate(rows):
            chosen[i] = _chosen(work, i, scores, r, best[r], candidates, unit)
            by_backtest[i] = bool(best[r] >= 0)
    return Selected(
        stacked(score_frames, SCORE_COLUMNS),
        stacked(pit_frames, PIT_COLUMNS),
        chosen,  # type: ignore[arg-type]
        by_backtest,
    )


def _par_windows(work: PanelWork, rows: list[int], horizon: int) -> np.ndarray:
    """Per row, the share of each period after a cutoff in the par's window (its lead time + the review
    period, from the cutoff's first day): what a fold's par would have had to cover."""
    days = np.asarray(work.window.lead_time_days, dtype=float)[rows] + work.window.review_period_days
    periods = days / calendar.DAYS_PER_PERIOD[work.settings.period]
    return np.clip(periods[:, None] - np.arange(horizon)[None, :], 0.0, 1.0)


def _earlier_candidates(work: PanelWork, i: int) -> tuple[str, ...]:
    """Models series ``i`` had as candidates at some fold but has no longer (backtested there, never chosen now)."""
    now = set(work.candidates[i])
    return tuple(dict.fromkeys(m for view in work.folds for m in view.candidates[i] if m not in now))


def _chosen(work: PanelWork, i: int, scores: backtest.Scores, r: int, best: int, candidates: list[str],
            unit: str) -> tuple[str, str]:
    """Series ``i``'s model and the reason, from row ``r`` of its group's backtest."""
    settings, y = work.settings, work.histories[i]
    if best < 0:
        return choose_model(y, calendar.SEASON_LENGTH[settings.period], settings)
    values = getattr(scores, settings.selection_metric)[:, r, :]
    finite = np.isfinite(values)
    competing = np.isin(scores.models, [*candidates, COMBINATION])  # not the models of earlier folds only
    means = np.where(finite.any(axis=1) & competing,
                     np.where(finite, values, 0).sum(axis=1) / np.maximum(finite.sum(axis=1), 1), np.nan)
    name = scores.models[best]
    basis = _basis_from_backtest(scores.models, means, name, int(finite[best].sum()), settings.selection_metric, unit,
                                 len(y))
    if name == COMBINATION:
        basis = f"equal mix of {', '.join(candidates)}: " + basis
    if name == BORROWED_PROFILE:
        basis = f"new item, season borrowed from {work.keys[i][1]} at other locations: " + basis
    return name, basis


def _basis_from_backtest(names: list[str], means: np.ndarray, chosen: str, folds: int, metric: str, unit: str,
                         n: int) -> str:
    """The reason for a backtest's choice: its mean score against the best other (``means`` per ``names``)."""
    scored = {m: v for m, v in zip(names, means, strict=True) if np.isfinite(v)}
    others = sorted((v, m) for m, v in scored.items() if m != chosen)
    label = "MASE" if metric == "mase" else "scaled pinball"
    if others and others[0][0] < scored[chosen]:
        versus = f"; kept over {others[0][1]} {others[0][0]:.2f}, within the tolerance"
    else:
        versus = f" vs {others[0][1]} {others[0][0]:.2f}" if others else ""
    return f"{chosen} chosen by backtest ({label} {scored[chosen]:.2f}{versus}, {folds} folds) on {n} {unit}"


def _score_frame(work: PanelWork, rows: list[int], scores: backtest.Scores, best: np.ndarray) -> pd.DataFrame:
    """One row per series, model and fold scored."""
    m, r, k = np.nonzero(np.isfinite(scores.mase))
    keys = np.array([work.keys[i] for i in rows], dtype=object).reshape(len(rows), 2)
    return pd.DataFrame({
        "location_id": keys[r, 0], "drug_id": keys[r, 1], "model": np.asarray(scores.models, dtype=object)[m],
        "train_periods": np.asarray(scores.cutoffs)[k], "mase": scores.mase[m, r, k],
        "scaled_pinball": scores.scaled_pinball[m, r, k], "coverage_q95": scores.coverage_q95[m, r, k],
        "window_pinball": scores.window_pinball[m, r, k] if scores.window_pinball is not None else np.nan,
        "chosen": best[r] == m,
    })


def _pit_frame(rows: list[int], scores: backtest.Scores, best: np.ndarray, n: int, horizon: int,
               step: int) -> pd.DataFrame:
    """The chosen models' PITs: series (of ``rows``), model, fold (0 = the latest), horizon (1, 2, ...; 0: demand
    over the par's window, lead time + review period), PIT."""
    r = np.flatnonzero(best >= 0)
    series = np.asarray(rows, dtype=np.int64)[r]
    chosen_pits = scores.pits[best[r], r]  # rows x cutoffs x horizon
    rr, k, h = np.nonzero(np.isfinite(chosen_pits))
    folds = (n - horizon - np.asarray(scores.cutoffs)) // step
    models = np.asarray(scores.models, dtype=object)
    frame = pd.DataFrame({"series": series[rr], "model": models[best[r][rr]], "fold": folds[k], "horizon": h + 1,
                          "pit": chosen_pits[rr, k, h]})
    if scores.window_pits is None:
        return frame
    window = scores.window_pits[best[r], r]  # rows x cutoffs
    rw, kw = np.nonzero(np.isfinite(window))
    return pd.concat([frame, pd.DataFrame({"series": series[rw], "model": models[best[r][rw]], "fold": folds[kw],
                                           "horizon": 0, "pit": window[rw, kw]})], ignore_index=True)
