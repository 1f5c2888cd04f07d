"""Independent checkers: each reads a history (and, for convergence, replica snapshots)
and returns a JSON-able dict with a boolean ``valid`` (or ``None`` for unknown)."""
