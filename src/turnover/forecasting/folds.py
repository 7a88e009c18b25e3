"""What each backtest fold knew at its cutoff: censoring fills, classes, candidates and sibling profiles from the
fold's own history only (no look-ahead), and the sibling profiles a new item borrows its season from."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from turnover import calendar
from turnover.forecasting.candidates import series_candidates, signal_until
from turnover.forecasting.censoring import censored_panel
from turnover.forecasting.classify import classify_panel
from turnover.forecasting.models import Profiles, SeriesContext
from turnover.forecasting.models.batch import by_length
from turnover.forecasting.models.profiles import MAX_HARMONICS, YEAR_IN_PERIODS, mean_profiles, stack_profiles
from turnover.settings import ForecastSettings


@dataclass(frozen=True)
class FoldView:
    """What the engine knew at one backtest fold's cutoff, ``back`` periods before the end of every history
    (all series end on the same period): each series' candidates judged on its history up to there, and the
    sibling profiles fitted on those histories. Censoring fills, classes, candidates, profiles and the signal of
    a fold never read a period after its cutoff."""

    back: int
    candidates: list[tuple[str, ...]]
    borrowed: dict[str, Profiles]

    def context(self, context: SeriesContext, drug_id: str) -> SeriesContext:
        """The series' context as of the fold: its drug's sibling profile then, the signal published by then."""
        last = max(context.signal) - self.back if context.signal else 0
        return replace(context, borrowed=self.borrowed.get(drug_id), signal=signal_until(context.signal, last))


def cut_histories(raw: list[np.ndarray], back: int) -> list[np.ndarray]:
    """Every history without its last ``back`` periods."""
    return [y[: max(len(y) - back, 0)] for y in raw]


def fold_views(keys, raw: list[np.ndarray], contexts: list[SeriesContext], first_forecast: int, horizon: int,
               step: int, settings: ForecastSettings, needed: list[int] | None = None) -> list[FoldView]:
    """One :class:`FoldView` per backtest fold (0 = the latest cutoff, ``horizon`` periods before the end).

    ``needed``: the series whose candidates are read (default all; a refit backtests only the series it
    selects afresh), the others' are left empty. Only the series of their drugs are censored and classified:
    a drug's sibling profile is the mean of its own series' profiles. (A least-squares fit's last bits depend
    on the other rows fitted with it, so a profile may differ from a full run's in its last bits.)
    """
    season_length = contexts[0].season_length if contexts else calendar.SEASON_LENGTH[settings.period]
    if needed is None:
        rows = list(range(len(keys)))
    else:
        drugs = {keys[i][1] for i in needed}
        rows = [i for i, key in enumerate(keys) if key[1] in drugs]
    at = {i: r for r, i in enumerate(rows)}
    kept_keys, kept_raw = [keys[i] for i in rows], [raw[i] for i in rows]
    views = []
    for j in range(settings.backtest_cutoffs):
        back = horizon + j * step
        histories, _ = censored_panel(cut_histories(kept_raw, back), season_length, settings.censor)
        classes = classify_panel(histories, season_length)
        borrowed = sibling_profiles(kept_keys, histories, classes, first_forecast - back, season_length, settings)
        view = FoldView(back, [()] * len(keys), borrowed)
        for i in rows if needed is None else needed:
            view.candidates[i] = tuple(series_candidates(histories[at[i]], classes[at[i]], season_length, settings,
                                                         view.context(contexts[i], keys[i][1])))
        views.append(view)
    return views


def sibling_profiles(keys, histories, classes, first_forecast: int, season_length: int,
                     settings: ForecastSettings) -> dict[str, Profiles]:
    """Per drug: the mean yearly profile of its seasonal series with two seasons of history (one row each).

    Profiles are fitted on absolute period indices (the series all end the period before
    ``first_forecast``), so a new store's series can use them in its own calendar.
    """
    period = YEAR_IN_PERIODS.get(season_length, float(season_length))
    harmonics = min(MAX_HARMONICS, season_length // 2)
    strong = [i for i, (y, c) in enumerate(zip(histories, classes, strict=True))
              if np.isfinite(c["seasonality_strength"]) and c["seasonality_strength"] >= settings.seasonal_strength_threshold
              and len(y) >= settings.min_seasons * season_length]
    if not strong:
        return {}
    fitted, drugs = [], []
    for n, rows in by_length(histories, strong).items():
        Z = np.log1p(np.vstack([histories[i] for i in rows]))
        fitted.append(Profiles(period, harmonics).fit(Z, first_forecast - n))
        drugs.extend(keys[i][1] for i in rows)
    labels, means = mean_profiles(stack_profiles(fitted), np.asarray(drugs, dtype=object))
    return {str(drug): means.rows(np.array([k])) for k, drug in enumerate(labels)}
