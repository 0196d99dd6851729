"""The content-addressed store on disk: images plus a SQLite manifest of chains, scores and runs."""
