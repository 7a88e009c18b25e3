"""Tests of turnover.inventory."""
