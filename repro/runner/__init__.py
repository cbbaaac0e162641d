"""The top part: training runs (``engine``: the loop, run folders, resume, data parallelism; ``checkpoint``: the
checkpoint file; ``lock``: a run folder's lock; ``stop``: a stop asked by a signal) and the
``python -m repro.runner.train`` command. It may import every part; nothing in repro imports it."""
