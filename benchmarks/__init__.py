"""Benchmarks: scripts that print figures and write them to a JSON file (see BENCHMARKS.md)."""
