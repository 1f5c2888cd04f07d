"""Benchmarks run by ``make bench`` (``bench/run.py``).

Every suite measures its baselines in the same run and reports ratios against
them; nothing here asserts on timing.
"""
