"""The model families beside Algorithm 1 (the baselines the paper re-ran, the companion papers' models, the
SVHN protocol's CNN head), ``registry``, the one table of every family ``--method`` names, and ``names``, what the
report calls each family (the standard library alone: the torch-free report reads it by its path). Imports every
part below (the SVHN head reads features through repro.evaluation), never the runner. Nothing is imported
here, so that importing one family does not load them all."""
