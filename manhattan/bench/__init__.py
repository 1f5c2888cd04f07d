"""Benchmark building blocks shared by ``make bench`` and ``manhattan bench``:
YCSB workloads, latency histograms and CPU-time meters."""
