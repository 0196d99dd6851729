"""The run's machine-readable truth: typed records, results.json and the committed baseline."""
