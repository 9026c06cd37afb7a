"""Single-cell counts simulated from a known random TF network (ground truth for the TF-VAE).

The generative story, in order:

1. The first ``n_master`` TFs are *master regulators*; each cell type switches a random subset
   of them on (activity ≈ 0.7–1) and the rest off (≈ 0–0.15).
2. The remaining TFs form a random DAG below the masters: each gets 1–3 regulators among the
   TFs before it, with a sign (70% activating) and a strength in [1, 3]. Its activity is a
   sigmoid of the signed, weighted sum of its regulators' activities plus cell-level noise.
3. Each target gene gets 1–3 TF regulators, again signed and weighted, and responds through a
   sigmoid (the nonlinear response).
4. Every gene (TFs included: a TF's mRNA tracks its activity) has a base rate; counts are drawn
   from a negative binomial (gamma–Poisson) with a per-cell library size.

Knock-outs (ground truth for in-silico perturbations)
-----------------------------------------------------
``synthetic_grn(..., knockout={"TF03": 0.0})`` re-runs the same story with the same seed, so
the network, cell types, cell-level noise and library sizes are the same draws, but clamps the
named TFs' activities to the given values (0 = off) right after each is computed, so the
change propagates down the DAG to every TF and gene below. The sigmoid responses keep the
wild type's centre and spread (step 2 centres each response on the median input of the
*wild-type* cells; recomputing it on knocked-out cells would renormalise the knock-out away).
Compare the noiseless expected counts :attr:`SimulatedGRN.mean` of the two simulations: the
counts themselves are fresh Poisson draws. Genes not downstream of a knocked TF keep their
rate; their expected counts change only by each cell's common composition factor (the rates
are normalised to the cell's library size), which total-count normalisation removes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

if TYPE_CHECKING:
    from anndata import AnnData

NETWORK_COLUMNS = ["source", "target", "sign", "strength", "weight", "layer"]


@dataclass
class SimulatedGRN:
    """Simulated data and the network that generated it.

    Attributes
    ----------
    adata
        Raw counts in ``X``; ``obs['cell_type']``; ``var['is_tf']``; ``uns['tf_names']``;
        ``uns['true_network']`` (the concatenation of both edge tables).
    tf2tf, tf2gene
        Edge tables with columns ``source, target, sign (±1), strength (>0), weight
        (= sign · strength), layer`` (``"tf2tf"`` / ``"tf2gene"``). ``tf2gene`` lists the
        regulators of the non-TF genes only.
    activity
        Cells × TFs activities in [0, 1] (the hidden state the TF-VAE latent should track).
    mean
        Cells × genes noiseless expected counts (before the gamma–Poisson noise).
    """

    adata: AnnData
    tf2tf: pd.DataFrame
    tf2gene: pd.DataFrame
    activity: np.ndarray
    mean: np.ndarray | None = None
    #: Response (centre, spread) pairs in draw order, reused by a knock-out of this simulation.
    responses: list[tuple[np.ndarray, np.ndarray]] | None = field(default=None, repr=False)

    @property
    def network(self) -> pd.DataFrame:
        """Both layers in one table."""
        return pd.concat([self.tf2tf, self.tf2gene], ignore_index=True)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def random_edges(rng: np.random.Generator, targets: list[str], candidates_of, layer: str, *,
                 p_positive: float = 0.7, strength: tuple[float, float] = (1.0, 3.0),
                 signed_weight: bool = True) -> pd.DataFrame:
    """1–3 random regulators per target drawn from ``candidates_of(target)``, each activating
    with probability ``p_positive``, with a uniform ``strength``; the weight is
    sign × strength (``signed_weight``) or the sign alone (Hill models keep K in strength)."""
    rows = []
    for target in targets:
        candidates = candidates_of(target)
        k = min(len(candidates), int(rng.integers(1, 4)))
        for source in rng.choice(candidates, size=k, replace=False):
            sign = 1 if rng.random() < p_positive else -1
            value = float(rng.uniform(*strength))
            rows.append((str(source), target, sign, value,
                         sign * value if signed_weight else float(sign), layer))
    return pd.DataFrame(rows, columns=NETWORK_COLUMNS)


def _respond(rng: np.random.Generator, inputs: np.ndarray, noise: float,
             fixed: tuple[np.ndarray, np.ndarray] | None = None
             ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Sigmoid response centred on the median input so every regulated node varies.

    ``fixed`` reuses a (centre, spread) pair (the wild type's, in a knock-out); the pair used is
    returned with the response.
    """
    u = inputs + rng.normal(0.0, noise, size=inputs.shape)
    if fixed is None:
        fixed = (np.median(u, axis=0, keepdims=True), u.std(axis=0, keepdims=True) + 1e-3)
    centre, spread = fixed
    return _sigmoid(3.0 * (u - centre) / spread), fixed


def synthetic_grn(
    n_cells: int = 2000,
    n_tfs: int = 40,
    n_genes: int = 500,
    *,
    n_cell_types: int = 5,
    n_master: int | None = None,
    dispersion: float = 5.0,
    mean_library: float = 5000.0,
    noise: float = 0.3,
    seed: int = 0,
    knockout: Mapping[str, float] | None = None,
) -> SimulatedGRN:
    """Simulate counts from a random TF network with known edges (see the module docstring).

    Parameters
    ----------
    n_cells, n_tfs
        Cells and transcription factors.
    n_genes
        Total genes, TFs included (``n_genes - n_tfs`` target genes).
    n_cell_types
        Cell types, each a different on/off state of the master regulators.
    n_master
        Master regulators (default ``max(2, n_tfs // 5)``).
    dispersion
        Negative-binomial inverse dispersion θ (smaller = noisier counts).
    mean_library
        Mean counts per cell.
    noise
        Standard deviation of the cell-level noise added to each regulatory input.
    seed
        Everything is determined by the seed.
    knockout
        TF name → activity it is clamped to (0 = knocked out), with every draw and the
        response centres of the wild type kept (see the module docstring).

    Returns
    -------
    SimulatedGRN
        The AnnData, the two true edge tables and the TF activities.
    """
    import anndata

    if n_tfs < 4 or n_genes <= n_tfs or n_cells < n_cell_types:
        raise ValueError("need n_tfs ≥ 4, n_genes > n_tfs and n_cells ≥ n_cell_types")
    n_master = n_master or max(2, n_tfs // 5)
    tfs = [f"TF{i + 1:02d}" for i in range(n_tfs)]
    clamp = {str(k): float(v) for k, v in (knockout or {}).items()}
    unknown = sorted(set(clamp) - set(tfs))
    if unknown:
        raise ValueError(f"knockout names unknown TFs: {', '.join(unknown)}")
    responses: list[tuple[np.ndarray, np.ndarray]] | None = None
    if clamp:
        wild = synthetic_grn(n_cells, n_tfs, n_genes, n_cell_types=n_cell_types,
                             n_master=n_master, dispersion=dispersion,
                             mean_library=mean_library, noise=noise, seed=seed)
        responses = wild.responses
    rng = np.random.default_rng(seed)
    targets = [f"G{i + 1:04d}" for i in range(n_genes - n_tfs)]
    activity, cell_type = _master_activity(rng, n_cells, n_tfs, n_cell_types, n_master)
    net = _propagate(rng, activity, tfs, targets, n_master, noise, clamp, responses)
    mean, counts = _sample_counts(rng, np.hstack([activity, net.target_activity]),
                                  mean_library, dispersion)
    obs = pd.DataFrame({"cell_type": pd.Categorical([f"type_{t + 1}" for t in cell_type])},
                       index=[f"cell{i:05d}" for i in range(n_cells)])
    var = pd.DataFrame({"is_tf": [True] * n_tfs + [False] * len(targets)}, index=tfs + targets)
    adata = anndata.AnnData(X=sp.csr_matrix(counts), obs=obs, var=var)
    adata.uns["tf_names"] = np.array(tfs)
    adata.uns["true_network"] = pd.concat([net.tf2tf, net.tf2gene], ignore_index=True)
    adata.uns["simulation"] = {"n_cells": n_cells, "n_tfs": n_tfs, "n_genes": n_genes,
                               "n_cell_types": n_cell_types, "n_master": n_master,
                               "dispersion": dispersion, "noise": noise, "seed": seed,
                               "knockout": dict(clamp)}
    return SimulatedGRN(adata=adata, tf2tf=net.tf2tf, tf2gene=net.tf2gene, activity=activity,
                        mean=mean, responses=net.responses)


def _master_activity(rng: np.random.Generator, n_cells: int, n_tfs: int, n_cell_types: int,
                     n_master: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell types as distinct on/off states of the master regulators (≥ 1 on per type).

    Returns the (cells × TFs) activity with the master columns filled, and each cell's type.
    """
    states = np.zeros((n_cell_types, n_master), dtype=bool)
    for t in range(n_cell_types):
        for _ in range(100):
            s = rng.random(n_master) < 0.4
            if s.any() and not any((s == states[u]).all() for u in range(t)):
                break
        states[t] = s
    cell_type = rng.integers(0, n_cell_types, size=n_cells)
    levels = np.where(states, rng.uniform(0.7, 1.0, states.shape), rng.uniform(0, 0.15,
                                                                               states.shape))
    activity = np.zeros((n_cells, n_tfs))
    activity[:, :n_master] = np.clip(levels[cell_type] + rng.normal(0, 0.05, (n_cells, n_master)),
                                     0, 1)
    return activity, cell_type


@dataclass
class _Network:
    tf2tf: pd.DataFrame
    tf2gene: pd.DataFrame
    target_activity: np.ndarray
    responses: list[tuple[np.ndarray, np.ndarray]]


def _propagate(rng: np.random.Generator, activity: np.ndarray, tfs: list[str],
               targets: list[str], n_master: int, noise: float, clamp: dict[str, float],
               responses: list[tuple[np.ndarray, np.ndarray]] | None) -> _Network:
    """Draw the TF→TF and TF→gene edges and propagate activity down them (in place for TFs).

    Clamped TFs (knock-outs) are set after their own response; ``responses`` re-uses the wild
    type's response centres so a knock-out changes only what the clamp causes.
    """
    used: list[tuple[np.ndarray, np.ndarray]] = []

    def fixed() -> tuple[np.ndarray, np.ndarray] | None:
        return responses[len(used)] if responses is not None else None

    index = {name: i for i, name in enumerate(tfs)}
    for i in range(n_master):
        if tfs[i] in clamp:
            activity[:, i] = clamp[tfs[i]]
    tf2tf = random_edges(rng, tfs[n_master:], lambda t: tfs[:index[t]], "tf2tf")
    for tf in tfs[n_master:]:
        e = tf2tf[tf2tf["target"] == tf]
        u = activity[:, [index[s] for s in e["source"]]] @ e["weight"].to_numpy()
        value, pair = _respond(rng, u[:, None], noise, fixed())
        used.append(pair)
        activity[:, index[tf]] = clamp[tf] if tf in clamp else value[:, 0]
    tf2gene = random_edges(rng, targets, lambda t: tfs, "tf2gene")
    w = np.zeros((len(tfs), len(targets)))
    tgt_index = {g: j for j, g in enumerate(targets)}
    w[tf2gene["source"].map(index), tf2gene["target"].map(tgt_index)] = tf2gene["weight"]
    target_activity, pair = _respond(rng, activity @ w, noise, fixed())
    used.append(pair)
    return _Network(tf2tf=tf2tf.reset_index(drop=True), tf2gene=tf2gene.reset_index(drop=True),
                    target_activity=target_activity, responses=used)


def _sample_counts(rng: np.random.Generator, expression: np.ndarray, mean_library: float,
                   dispersion: float) -> tuple[np.ndarray, np.ndarray]:
    """Rates base × (floor + activity) (TF mRNA tracks its activity) → NB counts."""
    base = rng.lognormal(0.0, 0.8, size=expression.shape[1])
    rate = base * (0.05 + expression)
    library = rng.lognormal(np.log(mean_library), 0.3, size=expression.shape[0])
    mean = rate / rate.sum(1, keepdims=True) * library[:, None]
    counts = rng.poisson(rng.gamma(dispersion, mean / dispersion)).astype(np.float32)
    return mean, counts


def load_synthetic_grn() -> AnnData:
    """The bundled ``synthetic_grn`` dataset: default size, seed 0 (generated on demand)."""
    return synthetic_grn(seed=0).adata
