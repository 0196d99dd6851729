"""The study's tasks: the prompt sent at every step and what a faithful editor returns."""
