"""An equal-weight combination of models: the simple benchmark that forecasting competitions keep
finding hard to beat (Makridakis, Spiliotis & Assimakopoulos 2020, "The M4 Competition", *IJF* 36(1):
the median of SES, Holt and damped ("Comb") beat most single methods).

Paths: an equal mixture, path k taken from member k mod m (:func:`turnover.forecasting.models.batch.mix_paths`). The mixture's mean is the average of the
members' means; its spread includes their disagreement, which a combination of point forecasts
hides. Mixing whole paths keeps each path's joint structure over the periods, so sums over a lead
time stay honest.
"""

from __future__ import annotations

import numpy as np

from turnover.forecasting.models.base import DemandModel
from turnover.forecasting.models.batch import mix_paths


class Combination(DemandModel):
    """Equal mixture of ``members`` (fitted models that fail are left out)."""

    def __init__(self, members: list[DemandModel]):
        self.members = members

    @property
    def min_history(self) -> int:  # type: ignore[override]
        return min(m.min_history for m in self.members)

    def _fit(self, y: np.ndarray) -> None:
        fitted = []
        for member in self.members:
            if len(y) < member.min_history:
                continue
            try:
                fitted.append(member.fit(y))
            except (ValueError, np.linalg.LinAlgError):
                continue
        if not fitted:
            raise ValueError("Combination: no member could be fitted")
        self.fitted_ = fitted

    def _sample(self, horizon: int, n_paths: int, rng: np.random.Generator) -> np.ndarray:
        # Every member is driven by the same random stream (as in a batch: the same uniforms), and path k
        # of the mixture is member k mod m's path k.
        seed = int(rng.integers(2**63))
        return mix_paths([m.sample_paths(horizon, n_paths, np.random.default_rng(seed)) for m in self.fitted_])
