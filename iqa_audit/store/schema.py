"""The store manifest's SQLite tables, column by column (created by connection.py, if missing, on every open)."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS chains (
    key TEXT PRIMARY KEY,
    spec TEXT NOT NULL,            -- canonical JSON of everything that determines the chain
    seed TEXT NOT NULL,
    setting TEXT NOT NULL,         -- editor id + task, the 'chain setting' of the audit
    editor_id TEXT NOT NULL,
    editor_version TEXT NOT NULL,
    task TEXT NOT NULL,
    run INTEGER NOT NULL,
    paid INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS steps (
    chain_key TEXT NOT NULL REFERENCES chains(key),
    step INTEGER NOT NULL,
    status TEXT NOT NULL,          -- 'ok' | 'refused' | 'failed' | 'unknown' (chains.STEP_STATUSES)
    image_hash TEXT,               -- NULL for every status but 'ok'
    ext TEXT,
    width INTEGER,
    height INTEGER,
    prompt TEXT,
    reasoning TEXT,
    meta TEXT NOT NULL,            -- JSON
    editor_seed INTEGER,
    seconds REAL,
    created REAL NOT NULL,
    PRIMARY KEY (chain_key, step)
);
CREATE TABLE IF NOT EXISTS scores (
    metric_id TEXT NOT NULL,
    metric_version TEXT NOT NULL,
    image_hash TEXT NOT NULL,
    score REAL NOT NULL,
    seconds REAL,
    created REAL NOT NULL,
    PRIMARY KEY (metric_id, metric_version, image_hash)
);
-- Object files whose content hash was checked, with the file's stamp then: size, mtime,
-- ctime and inode. Any write to the file, or `touch -r` afterwards, moves its ctime (which
-- a user cannot set back), so a warm run re-hashes only files that changed since. What the
-- stamp cannot see (the disk itself flipping a bit) is caught where it matters: reading an
-- object always re-checks its hash, and `iqa-audit build` re-hashes every file.
-- (Stores written before this table existed have a 'verified' table keyed by size and
-- mtime only, which `touch -r` fools; it is no longer read.)
CREATE TABLE IF NOT EXISTS object_checks (
    digest TEXT NOT NULL,
    ext TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    PRIMARY KEY (digest, ext)
);
-- Results derived from stored content, keyed by a digest of all their inputs (including
-- the source of the code that computes them), so a warm re-run reads instead of recomputing:
-- 'identity' (a metric's id/version/range), 'evidence', 'fidelity' (an editor check), 'sanity',
-- 'profile' (the artifact profile of a pair of images: both content hashes, the profile's
-- version) and 'profile-reference' (a reference simulator chain's profile: audit/profiles.py).
-- Also kept here, keyed by what they answer: 'nonfinite' (a NaN/±inf a metric returned for
-- an image), an LLM judge's answers, and the records of dataset imports.
CREATE TABLE IF NOT EXISTS memos (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,           -- JSON
    created REAL NOT NULL,
    PRIMARY KEY (kind, key)
);
"""
