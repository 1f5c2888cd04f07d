"""Benchmarks, one home: installed as ``manhattan.bench`` (like ``client/`` as
``manhattan.client``), so the ``manhattan bench`` command imports the very workloads,
latency histograms and CPU meters (``workloads.py``, ``driver.py``, ``stats.py``,
``manhattan_store.py``) that ``make bench`` (``python -m manhattan.bench.run``) runs
against Manhattan and its peers.

Every suite measures its baselines in the same run and reports ratios against
them; nothing here asserts on timing.
"""
