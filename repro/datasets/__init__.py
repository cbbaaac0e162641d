"""Datasets: the loaders (``DATASETS``, ``ImageSet``), image folders with their decoded cache, and the masks of
the inpainting experiments. Imports only repro.base; the package data (repro/data/paper_numbers.csv) is a plain
folder beside this one, read by the torch-free report, not a module."""
