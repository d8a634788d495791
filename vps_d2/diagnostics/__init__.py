"""Known-answer diagnostics of the temporal half (issue 22): generated scenarios whose ground truth
(flow, clean renderings, identities) is exact, and measurements of the warp, the fuse head and
every tracking cue against it. ``benchmarks/diagnose_temporal.py`` is the command line."""
