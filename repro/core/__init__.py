"""The method: grid operators and the chains' start fill, energy nets and their feature read-out, Langevin
dynamics, the learning schemes, the ``Trainable`` interface every family implements, and Algorithm 1
(``Learner``). Imports only repro.base and repro.datasets: what the sampler needs lives here, not in the
evaluation above it."""
