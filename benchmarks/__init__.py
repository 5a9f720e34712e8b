"""relaunch's benchmark suite: decision latency against the floors and the Python peers, and the
cost of decide as its work grows. Run it with `make bench`; see benchmarks/README.md."""
