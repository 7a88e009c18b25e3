"""One series' chart for the run report: demand history, forecast fan, reorder point, par and stock on hand.

Drawn with matplotlib's object API on the Agg backend (no pyplot state), as PNG bytes, one chart after another on
one figure (``SeriesCharts``).
"""

from __future__ import annotations

import io
from datetime import date

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from turnover.schema import QUANTILE_COLUMNS

BAND_BLUE = "#2f6db5"


def _draw_fan(ax, forecast: pd.DataFrame) -> None:
    """Forecast mean over nested quantile bands, darkest next to the median, lighter as the quantile rises."""
    periods = pd.to_datetime(forecast["period_start"]).to_numpy()
    levels = [c for c in QUANTILE_COLUMNS if c in forecast.columns]
    for i, (low, high) in enumerate(zip(levels, levels[1:], strict=False)):
        ax.fill_between(periods, forecast[low].to_numpy(dtype=float), forecast[high].to_numpy(dtype=float),
                        color=BAND_BLUE, alpha=0.40 - 0.08 * i, linewidth=0,
                        label=f"{levels[0]}–{levels[-1]}" if i == 0 else None)
    ax.plot(periods, forecast["mean"].to_numpy(dtype=float), color=BAND_BLUE, linewidth=1.8, label="forecast")


class SeriesCharts:
    """Series charts drawn one after another on one figure, as PNG bytes: the bytes a new figure per chart gives,
    in less time (the figure's renderer, and the text laid out on it, serve the next chart)."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=(7.0, 2.9), dpi=100)
        FigureCanvasAgg(self.figure)
        # Fixed margins rather than a layout engine: same look for every chart, and about twice as fast.
        self.figure.subplots_adjust(left=0.08, right=0.98, top=0.87, bottom=0.11)

    def png(self, history: pd.DataFrame, forecast: pd.DataFrame, par: pd.Series | None, as_of: date,
            period: str) -> bytes:
        """One series' chart: demand history, forecast fan, reorder point, par and stock on hand."""
        ax = self.figure.add_subplot()
        try:
            _draw(ax, history, forecast, par, as_of, period)
            buffer = io.BytesIO()
            self.figure.savefig(buffer, format="png")
        finally:
            self.figure.delaxes(ax)  # the next chart starts from the bare figure
        return buffer.getvalue()


def _draw(ax, history: pd.DataFrame, forecast: pd.DataFrame, par: pd.Series | None, as_of: date, period: str) -> None:
    as_of_day = np.datetime64(as_of)
    if len(history):
        ax.plot(pd.to_datetime(history["period_start"]).to_numpy(), history["demand_units"].to_numpy(dtype=float),
                color="#3c4650", linewidth=1.1, label="demand")
    if len(forecast):
        _draw_fan(ax, forecast)
    if par is not None:
        ax.axhline(par["reorder_point_units"], color="#d9822b", linestyle="--", linewidth=1.3, label="reorder point")
        ax.axhline(par["par_level_units"], color="#2e8540", linewidth=1.5, label="par")
        usable = par.get("usable_on_hand_units")
        if usable is not None and np.isfinite(usable):
            ax.plot([as_of_day], [usable], "o", color="#2e8540", markersize=5, label="on hand")
    ax.axvline(as_of_day, color="#8a939c", linestyle=":", linewidth=1)
    ax.annotate("as of", (as_of_day, 1), xycoords=("data", "axes fraction"), xytext=(-3, -10),
                textcoords="offset points", fontsize=8, color="#6b7785", ha="right")
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.set_ylim(0, ax.get_ylim()[1] * 1.05)
    ax.set_ylabel(f"units / {period}", fontsize=8.5)
    ax.tick_params(labelsize=8)
    ax.grid(axis="y", color="#e3e7ec", linewidth=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0, 1.0), frameon=False, ncols=6, borderaxespad=0.2,
                  handlelength=1.6, columnspacing=1.2)
    else:
        ax.text(0.5, 0.5, "no demand, forecast or par for this series", transform=ax.transAxes, ha="center",
                color="#6b7785", fontsize=9)
