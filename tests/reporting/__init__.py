"""Tests of turnover.reporting."""
