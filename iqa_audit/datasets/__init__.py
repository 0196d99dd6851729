"""Chains someone else built: manifests, folder layouts, Hugging Face sources, safe file reads."""
