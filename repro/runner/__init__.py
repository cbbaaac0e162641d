"""The top part: training runs (``engine``: run folders, checkpoints, resume, data parallelism) and the
``python -m repro.runner.train`` command. It may import every part; nothing in repro imports it."""
