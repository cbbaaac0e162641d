"""The lowest part: settings (``Config``), atomic files and provenance, processes (torchrun), speed switches, the
one rule for evaluating in batches, and the torchvision shim. It imports no other part of repro, so every part
may use it."""
