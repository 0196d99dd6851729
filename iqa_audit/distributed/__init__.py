"""Scoring (and free-chain building) spread over a Ray cluster: `--engine ray`.

    iqa-audit score --engine ray                     # a local Ray instance
    iqa-audit score --engine ray --address HOST:6379 # an existing cluster
    iqa-audit build --engine ray --address HOST:6379 # free editors only

Ray is an extra: `pip install 'iqa-audit[ray]'` (bin/setup installs it).

Who does what, and why:

- The DRIVER (the process running `iqa-audit`) is the only one that touches the
  store. It works out which (metric, image) scores are missing, reads those images'
  bytes, and writes every finished chunk's scores the moment the chunk comes back. The
  store stays the single truth: a worker lost mid-run loses at most the chunk it was on,
  and a re-run (of either engine) scores only what is still missing.
- WORKERS get image BYTES, never store paths: a remote node has no access to the
  driver's disk. Each worker is a Ray actor holding ONE loaded metric (created once, in
  its constructor, with create_metric), so a model is loaded once per actor, not once
  per chunk. An actor asks for one GPU with --device cuda, else one CPU.
- An actor that dies (node lost, OOM kill, segfault) is replaced and its unfinished chunk
  re-submitted, a bounded number of times per chunk; then the run stops with an error
  naming the metric and the chunk. Chunks that finished are never sent again.
- Building: each free chain is built by one Ray task from the chain's last stored image;
  the task returns the new steps' bytes and metadata, and the driver stores them in
  order under the chain's lock. Paid editors are refused: their budget and the
  never-re-request guarantee live in the driver's store, not on a remote node.

Everything that crosses the wire is plain data (bytes, str, float, lists and dicts of
them); Ray itself moves it (Ray's own transport serialises with cloudpickle: that is the
framework's business, no iqa_audit value is pickled into the store or any file).
Ray is imported lazily: the local engine, and everything else, works without it.

Where the code is:

    cluster.py   the Ray session, the cluster checks and the defaults both engines share
    scoring.py   score --engine ray: MetricWorker (the actor) and score_distributed (the driver)
    building.py  build --engine ray: build_steps (the task) and build_chains_distributed (the driver)
"""
