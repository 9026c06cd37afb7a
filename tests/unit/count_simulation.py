"""A small negative-binomial simulation with planted differential expression."""

import numpy as np

N_GENES, N_UP, N_DOWN = 60, 6, 6


def simulate_nb(n_per_group: int = 200, seed: int = 0):
    """Two groups; genes 0..5 are 5× higher in group B, genes 6..11 5× lower; two batches
    that scale library size differently."""
    rng = np.random.default_rng(seed)
    base = rng.gamma(2.0, 0.5, N_GENES) + 0.2
    rho_a = base / base.sum()
    fold = np.ones(N_GENES)
    fold[:N_UP] = 5.0
    fold[N_UP:N_UP + N_DOWN] = 0.2
    rho_b = base * fold / (base * fold).sum()
    group = np.repeat([0, 1], n_per_group)
    batch = rng.integers(0, 2, len(group))
    library = rng.lognormal(np.log(800), 0.3, len(group)) * np.where(batch == 1, 1.5, 1.0)
    mean = np.where(group[:, None] == 0, rho_a, rho_b) * library[:, None]
    theta = 5.0
    counts = rng.negative_binomial(theta, theta / (theta + mean)).astype(np.float32)
    return counts, group, batch
