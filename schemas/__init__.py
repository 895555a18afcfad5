"""Data contracts: our own strict envelope and lenient models of what providers send."""
