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
-- Every run's robustness cards (analysis/cards.py), one row per card, so a metric's or an
-- editor's robustness can be followed across its versions (`iqa-audit history`, the
-- report, --fail-on-drop). A later run with the same key replaces the row.
CREATE TABLE IF NOT EXISTS cards (
    kind TEXT NOT NULL,            -- 'metric' | 'editor'
    subject TEXT NOT NULL,         -- the metric id ('piqe') or the editor spec ('codec-jpeg:quality=50')
    version TEXT NOT NULL,         -- the metric's or editor's version
    iqa_audit TEXT NOT NULL,       -- the suite's version that made the card
    fingerprint TEXT NOT NULL,     -- the chain set's fingerprint: cards compare only when equal
    score REAL,                    -- the headline in [0, 1]; NULL: nothing conclusive to score
    low REAL,                      -- its 95 % Wilson interval
    high REAL,
    run TEXT NOT NULL,             -- the run's name (reports/<run>)
    card TEXT NOT NULL,            -- JSON: the whole card (analysis/cards.py Card.to_dict)
    created REAL NOT NULL,
    PRIMARY KEY (kind, subject, version, iqa_audit, fingerprint)
);
"""
