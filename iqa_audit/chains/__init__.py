"""Degradation chains: planning them from a config, building them (free and paid), caching them."""
