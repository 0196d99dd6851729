"""Editor fidelity checks: did the editor keep what it was asked to keep?

The study saw editors fail in ways no IQA metric is needed to see: the aspect ratio
changed on step 1 (5632x3072 -> 2816x1504 by cropping), apples stopped being added at
about 7, 4 eye colours became 2 within 5 steps, a green tint crept in, and a "replica"
drifted away from its source. Each check is a pure function returning a `Finding` (the
numbers, a verdict against a tolerance, and a one-line message a failing test prints).

Modules, along the seams (nothing here imports upward: finding <- pixels <- alignment
<- palette <- checks <- table):
- `finding`: the `Finding` value and the argument checks every check shares;
- `pixels`: reduction, resampling, grey;
- `alignment`: `align_to_reference`, which part of the reference an output shows;
- `palette`: `dominant_palette` and `check_colours`;
- `checks`: aspect ratio, object count, tint, replication;
- `table`: `CHECKS`, one entry per check (function, direction, needs, tasks).

"""
