"""The replay's efficient frontiers as a PNG: average stock against fill rate, one curve per policy.

Drawn with matplotlib's object API on the Agg backend (no pyplot state), as PNG bytes, like the report's
series charts (``turnover.reporting.series_chart``).
"""

from __future__ import annotations

import io

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from turnover.simulation.frontier import BASELINE_NAMES, ONE_LEVEL, OURS, has_value

COLOURS = {OURS: "#2e8540", "minmax_flat365": "#d9822b", "days_of_supply": "#2f6db5", ONE_LEVEL: "#8fbf9a"}
KNOB_LABELS = {"fill_rate_target": "fill {:.1%}", "service_level": "{:.1%}", "z": "z {:g}", "days": "{:g} d"}


def frontier_png(frontier: pd.DataFrame, title: str = "") -> bytes:
    """Average on hand (value, and units beside it) against fill rate, each point labelled with its knob."""
    panels = ["value", "units"] if has_value(frontier) else ["units"]
    fig = Figure(figsize=(5.2 * len(panels), 4.0), dpi=100)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.1, right=0.98, top=0.84, bottom=0.13, wspace=0.25)
    for k, unit in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), k + 1)
        for policy, rows in frontier.groupby("policy", sort=False):
            rows = rows.sort_values("fill_rate")
            name = "turnover" if policy == OURS else BASELINE_NAMES.get(policy, policy)
            ax.plot(rows["fill_rate"], rows[f"avg_on_hand_{unit}"], "o-", color=COLOURS.get(policy, "#6b7785"),
                    markersize=3.5, linewidth=1.4, label=name)
            label = KNOB_LABELS.get(rows["knob"].iloc[0], "{:g}")
            for point in rows.itertuples(index=False):
                ax.annotate(label.format(point.knob_value), (point.fill_rate, getattr(point, f"avg_on_hand_{unit}")),
                            xytext=(3, -9), textcoords="offset points", fontsize=6.5, color="#6b7785")
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
        ax.set_xlabel("fill rate", fontsize=8.5)
        ax.set_ylabel(f"average on hand, {unit}", fontsize=8.5)
        ax.tick_params(labelsize=8)
        ax.grid(color="#e3e7ec", linewidth=0.6)
        ax.spines[["top", "right"]].set_visible(False)
        if k == 0:
            ax.legend(fontsize=8, frameon=False, loc="upper left")
    fig.suptitle(title or "stock against fill rate: each policy over its own knob", fontsize=9.5)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    fig.clear()
    return buffer.getvalue()
