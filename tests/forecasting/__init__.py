"""Tests of turnover.forecasting."""
