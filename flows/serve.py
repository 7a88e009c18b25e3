"""Serve the weekly flow from one long-lived process: the same schedule as ``prefect.yaml``, no work pool.

    python flows/serve.py        # needs a Prefect server: set PREFECT_API_URL first

The process registers the ``weekly-par-levels`` deployment (Mondays 06:00 in ``TIMEZONE``, demo
parameters) and runs each scheduled run itself until stopped (Ctrl-C pauses the schedule). Use it
instead of ``prefect deploy`` plus a worker, not as well. The constants below and the schedule in
``prefect.yaml`` must agree: tests/flows/test_deployment.py checks that they do.
"""

from __future__ import annotations

import os
from pathlib import Path

DEPLOYMENT_NAME = "weekly-par-levels"
CRON = "0 6 * * 1"  # Mondays 06:00
TIMEZONE = "America/New_York"  # the pharmacy's time zone (IANA name), as in prefect.yaml
PARAMETERS = {"demo": True, "history": []}
REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    from flows.cli_run import PREFECT_DEFAULTS

    for key, value in PREFECT_DEFAULTS.items():  # before Prefect is imported: it reads them at import
        os.environ.setdefault(key, value)
    # Runs execute in this process: work from the project folder, as prefect.yaml's pull step does,
    # so turnover.toml and its relative data/ paths are found.
    os.chdir(os.environ.get("TURNOVER_HOME", str(REPO)))

    from prefect.schedules import Cron

    from flows.weekly import weekly_par_levels

    # Flow.serve has no `timezone` argument (Prefect 3.9): the time zone goes in the schedule.
    weekly_par_levels.serve(name=DEPLOYMENT_NAME, schedules=[Cron(CRON, timezone=TIMEZONE)], parameters=PARAMETERS)


if __name__ == "__main__":
    main()
