"""turnover: seasonal demand forecasts and par levels for pharmacy inventory.

The package holds the domain logic and the warehouse I/O; it never imports Prefect.
The weekly Prefect flow lives in the top-level ``flows`` package and calls into this one.
"""

__version__ = "0.1.0"
