"""Anti-entropy: hash trees over storage ranges, exchanges between replicas, the
background repair loop and the tombstone purge rule (repair watermarks)."""
