"""Reliability: crash and restart, outside failures, bad input, load (issue 9)."""
