"""Manhattan's jepsen-style harness: real node processes, real faults, recorded histories,
independent checkers. Run it with ``python jepsen-style/run.py``."""
