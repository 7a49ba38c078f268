"""phonedge benchmark harness (outside the package): see benchmarks/README.md."""
