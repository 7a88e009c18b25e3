"""What a run tells its readers: forecast-vs-actual tracking and drift flags (``tracking``), the purchaser's two
lists (``movers``), the run digest (``digest``), the HTML report and its charts (``report``, ``series_chart``).

Imports ``forecasting`` and ``inventory`` (their constants and words); never ``io``: ``pipeline.digest`` reads
the warehouse and hands the frames here.
"""
