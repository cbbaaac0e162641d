"""Tools around the library, not part of it: the benchmark and the timing projections.

    python -m tools.bench          # the sampler's and learning step's speed paths (docs/performance.md)
    python -m tools.time_reduced   # how long the reduced profile's tables take on this machine
    python -m tools.time_l2svm     # the exact L2-SVM solver against liblinear on real features

They may import repro and tasks; repro never imports them (nor tasks). Settings come from the modules
that own them (repro.base.config presets, each experiment's settings in repro.configs, repro.core.methods), never
copied.
"""
