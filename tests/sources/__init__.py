"""Tests of the kill feeds against local fake servers."""
