"""Timing a run's steps for its record in the warehouse (``marts.runs.step_seconds``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from time import perf_counter


class StepClock:
    """Wall seconds per named step, in the order the steps ran; a failed step is timed too."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        start = perf_counter()
        try:
            yield
        finally:
            self.seconds[step] = round(self.seconds.get(step, 0.0) + perf_counter() - start, 3)
