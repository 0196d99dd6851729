"""Pure functions on score series: gaps and the sign rule, evidence, noise band, stability, sanity."""
