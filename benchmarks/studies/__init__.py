"""One-off measurements, each with its own section of BENCHMARKS.md: run again when what they measure
changes."""
