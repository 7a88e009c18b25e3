"""The inventory policy: from demand quantiles and stock to par levels a purchaser can sign.

Stock by lot and its expiry (``stock``, ``expiry``: first-expiry-first-out), recalled lots (``recalls``), shortages
and their alternatives (``shortages``), service tiers (``tiers``) and fill-rate targets (``allocation``), ordering
in packs (``ordering``), the par policy and its reasons (``policy``, ``reasons``, ``peak_cap``), transfers before
expiry (``transfers``), turnover KPIs (``kpis``).

Imports ``forecasting`` (its quantiles and service curves) and the modules below it; never ``io``.
"""
