"""Shared building blocks with no pipeline knowledge: errors, images, keys, files, names, URLs."""
