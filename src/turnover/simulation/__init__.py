"""Proving the pars on past data: the day-by-day inventory simulator (``simulator``), the weekly replay of the
recommended policy against min/max and days of supply (``replay``), and the efficient frontiers of each policy
over its own knob (``frontier``, ``frontier_chart``).

Imports ``forecasting`` and ``inventory`` (the replay runs the same forecast and par code as a run); never ``io``.
"""
