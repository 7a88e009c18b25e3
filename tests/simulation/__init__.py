"""Tests of turnover.simulation."""
