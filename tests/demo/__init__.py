"""Tests of turnover.demo."""
