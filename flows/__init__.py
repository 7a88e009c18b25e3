"""Prefect layer: thin flows and tasks over the ``turnover`` package."""
