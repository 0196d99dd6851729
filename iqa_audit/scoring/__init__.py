"""Metric scores of chain images, each (metric, version, image) computed once through the store."""
