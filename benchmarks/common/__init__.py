"""What several benchmarks use: image sets, concurrent uploads, model archives, process memory, and the
report (percentiles, the machine, the JSON file, a section of BENCHMARKS.md)."""
