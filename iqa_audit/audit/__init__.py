"""The pytest audit: one session per run, its cells, each kind turned into a record and an outcome."""
