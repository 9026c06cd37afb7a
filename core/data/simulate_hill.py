"""A second simulator family: Hill kinetics, feedback loops, TF activity apart from its mRNA.

It differs from :mod:`core.data.simulate` (sigmoid responses on a DAG, every TF's mRNA equal
to its activity) where a TF-VAE could take shortcuts:

1. **Hill kinetics.** A regulated node's transcription rate is ``basal + (1 − basal) · mean of
   its regulators' Hill terms`` (activation ``a^n/(K^n + a^n)``, repression
   ``K^n/(K^n + a^n)``; ``K`` in [0.2, 0.6], ``n`` in {2, 3, 4}), so effects saturate.
2. **Feedback loops.** Besides a random DAG below the master regulators, a fraction of TFs get
   a regulator *later* in the order (a cycle); the steady state is found by damped iteration.
3. **TF activity decoupled from mRNA** for a fraction of TFs: their activity is the mRNA
   level times a hidden per-cell signal (post-translational control), so the mRNA a model
   sees is a poor readout of what the targets respond to.
4. **Fewer cells** (800 by default) and noisier counts (θ = 3).

Every draw (network, kinetics, per-cell noise, signals, library sizes) comes from ``seed`` in a
fixed order before the steady state is solved; ``knockout`` clamps TFs (mRNA and activity)
at every iteration, so a knock-out is the same cells with the TF removed. Counts are drawn
with ``count_seed`` (default ``seed + 1``), so a knock-out can get fresh counts.
:func:`knockout_screen` turns a simulator into a CRISPR-screen-like AnnData.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from core.data.simulate import SimulatedGRN, random_edges

if TYPE_CHECKING:
    from anndata import AnnData

CONTROL = "control"


def _hill_edges(rng: np.random.Generator, tfs: list[str], targets: list[str],
                candidates_of: Callable[[str], list[str]], layer: str) -> pd.DataFrame:
    """Edges whose strength is the Hill constant K (0.2–0.6) and whose weight is the sign."""
    return random_edges(rng, targets, candidates_of, layer, p_positive=0.65,
                        strength=(0.2, 0.6), signed_weight=False)


def _hill_matrices(edges: pd.DataFrame, sources: dict[str, int], targets: dict[str, int],
                   rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """(sign, K, n) matrices, targets × sources; sign 0 = no edge."""
    shape = (len(targets), len(sources))
    sign, k, n = np.zeros(shape), np.ones(shape), np.ones(shape)
    t = edges["target"].map(targets).to_numpy()
    s = edges["source"].map(sources).to_numpy()
    sign[t, s] = edges["sign"].to_numpy()
    k[t, s] = edges["strength"].to_numpy()
    n[t, s] = rng.choice([2.0, 3.0, 4.0], size=len(edges))
    return sign, k, n


def _hill_rate(activity: np.ndarray, sign: np.ndarray, k: np.ndarray, n: np.ndarray,
               basal: np.ndarray) -> np.ndarray:
    """Cells × targets rate in [basal, 1]: mean of the Hill terms of each target's regulators."""
    a = np.clip(activity, 0.0, None)[:, None, :]               # cells × 1 × sources
    an, kn = a ** n[None], k[None] ** n[None]
    act = an / (kn + an)
    term = np.where(sign[None] > 0, act, 1.0 - act)
    has = sign != 0
    mean = (term * has[None]).sum(-1) / np.maximum(has.sum(-1), 1)[None]
    return basal[None] + (1.0 - basal[None]) * mean


def _structure(rng: np.random.Generator, tfs: list[str], genes: list[str], n_master: int,
               feedback: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    index = {t: i for i, t in enumerate(tfs)}
    tf2tf = _hill_edges(rng, tfs, tfs[n_master:], lambda t: tfs[:index[t]], "tf2tf")
    loops = [t for t in tfs[n_master:-1] if rng.random() < feedback]
    back = _hill_edges(rng, tfs, loops, lambda t: tfs[index[t] + 1:], "tf2tf")
    back = back.groupby("target").head(1)                       # one feedback edge each
    tf2tf = pd.concat([tf2tf, back], ignore_index=True)
    tf2gene = _hill_edges(rng, tfs, genes, lambda g: tfs, "tf2gene")
    return tf2tf, tf2gene


def hill_grn(n_cells: int = 800, n_tfs: int = 30, n_genes: int = 300, *,
             n_cell_types: int = 4, n_master: int | None = None, feedback: float = 0.3,
             decoupled: float = 0.3, dispersion: float = 3.0, mean_library: float = 3000.0,
             noise: float = 0.25, iterations: int = 30, seed: int = 0,
             knockout: Mapping[str, float] | None = None,
             count_seed: int | None = None) -> SimulatedGRN:
    """Simulate counts from a Hill-kinetics TF network with feedback (module docstring).

    Parameters
    ----------
    n_cells, n_tfs, n_genes
        Cells, TFs, and genes in total (TFs included).
    n_cell_types, n_master
        Cell types, each an on/off state of the ``n_master`` master regulators
        (default ``max(2, n_tfs // 5)``).
    feedback
        Fraction of non-master TFs that also get a regulator later in the order (a loop).
    decoupled
        Fraction of non-master TFs whose activity is mRNA × a hidden per-cell signal.
    dispersion, mean_library, noise
        NB inverse dispersion θ, mean counts per cell, SD of the log-normal per-cell noise on
        every rate.
    iterations
        Damped fixed-point steps to the steady state.
    seed, count_seed
        All draws but the counts; the counts (default ``seed + 1``).
    knockout
        TF → value its mRNA and activity are clamped to (0 = knocked out).

    Returns
    -------
    SimulatedGRN
        ``activity`` is the TF activity (what targets respond to), ``uns['decoupled_tfs']``
        the TFs whose activity is not their mRNA.
    """
    if n_tfs < 6 or n_genes <= n_tfs or n_cells < n_cell_types:
        raise ValueError("need n_tfs ≥ 6, n_genes > n_tfs and n_cells ≥ n_cell_types")
    n_master = n_master or max(2, n_tfs // 5)
    tfs = [f"TF{i + 1:02d}" for i in range(n_tfs)]
    genes = [f"G{i + 1:04d}" for i in range(n_genes - n_tfs)]
    clamp = {str(k): float(v) for k, v in (knockout or {}).items()}
    if set(clamp) - set(tfs):
        raise ValueError(f"knockout names unknown TFs: {', '.join(sorted(set(clamp) - set(tfs)))}")
    rng = np.random.default_rng(seed)
    tf2tf, tf2gene = _structure(rng, tfs, genes, n_master, feedback)
    tf_index, gene_index = {t: i for i, t in enumerate(tfs)}, {g: i for i, g in enumerate(genes)}
    tt = _hill_matrices(tf2tf, tf_index, tf_index, rng)
    tg = _hill_matrices(tf2gene, tf_index, gene_index, rng)
    basal_tf, basal_gene = rng.uniform(0.02, 0.1, n_tfs), rng.uniform(0.02, 0.1, len(genes))
    is_decoupled = np.zeros(n_tfs, bool)
    is_decoupled[n_master:] = rng.random(n_tfs - n_master) < decoupled
    cell_type = rng.integers(0, n_cell_types, size=n_cells)
    states = rng.random((n_cell_types, n_master)) < 0.5
    states[np.arange(n_cell_types), rng.integers(0, n_master, n_cell_types)] = True
    master = np.where(states, rng.uniform(0.6, 1.0, states.shape), rng.uniform(0, 0.1,
                                                                              states.shape))
    master = np.clip(master[cell_type] + rng.normal(0, 0.05, (n_cells, n_master)), 0, 1)
    signal = rng.beta(1.2, 1.2, size=(n_cells, n_tfs))
    tf_noise = rng.lognormal(0, noise, (n_cells, n_tfs))
    gene_noise = rng.lognormal(0, noise, (n_cells, len(genes)))
    base = rng.lognormal(0.0, 0.8, size=n_genes)
    library = rng.lognormal(np.log(mean_library), 0.3, size=n_cells)

    ko_cols = [tf_index[t] for t in clamp]
    mrna, act = _steady_state(master, tt, basal_tf, tf_noise,
                              np.where(is_decoupled, signal, 1.0), ko_cols,
                              np.array([clamp[t] for t in clamp]), int(iterations))
    target = _hill_rate(act, *tg, basal_gene) * gene_noise
    rate = base * (0.02 + np.hstack([mrna, target]))
    mean = rate / rate.sum(1, keepdims=True) * library[:, None]
    crng = np.random.default_rng(seed + 1 if count_seed is None else count_seed)
    counts = crng.poisson(crng.gamma(dispersion, mean / dispersion)).astype(np.float32)

    adata = _hill_adata(counts, cell_type, tfs, genes, [tf2tf, tf2gene],
                        [t for t, d in zip(tfs, is_decoupled) if d],
                        {"family": "hill", "n_cells": n_cells, "n_tfs": n_tfs,
                         "n_genes": n_genes, "seed": seed, "knockout": dict(clamp)})
    return SimulatedGRN(adata=adata, tf2tf=tf2tf, tf2gene=tf2gene, activity=act, mean=mean)


def _steady_state(master: np.ndarray, tt: tuple[np.ndarray, ...], basal: np.ndarray,
                  noise: np.ndarray, signal: np.ndarray, ko_cols: list[int],
                  ko_vals: np.ndarray, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """(TF mRNA, TF activity) after damped fixed-point steps; masters held, knock-outs clamped.

    ``signal`` is each cell's hidden multiplier of a TF's activity (1 where activity = mRNA).
    """
    n_master = master.shape[1]
    mrna = np.full(noise.shape, 0.3)
    mrna[:, :n_master] = master
    for _ in range(iterations):
        act = mrna * signal
        act[:, ko_cols] = ko_vals
        new = np.clip(_hill_rate(act, *tt, basal) * noise, 0, None)
        new[:, :n_master] = master
        mrna = 0.5 * mrna + 0.5 * new
        mrna[:, ko_cols] = ko_vals
    act = mrna * signal
    act[:, ko_cols] = ko_vals
    return mrna, act


def _hill_adata(counts: np.ndarray, cell_type: np.ndarray, tfs: list[str], genes: list[str],
                networks: list[pd.DataFrame], decoupled: list[str],
                simulation: dict) -> AnnData:
    """The simulated counts as AnnData (TFs first; network, decoupled TFs, settings in uns)."""
    import anndata

    obs = pd.DataFrame({"cell_type": pd.Categorical([f"type_{t + 1}" for t in cell_type])},
                       index=[f"cell{i:05d}" for i in range(len(cell_type))])
    var = pd.DataFrame({"is_tf": [True] * len(tfs) + [False] * len(genes)}, index=tfs + genes)
    adata = anndata.AnnData(X=sp.csr_matrix(counts), obs=obs, var=var)
    adata.uns["tf_names"] = np.array(tfs)
    adata.uns["true_network"] = pd.concat(networks, ignore_index=True)
    adata.uns["decoupled_tfs"] = np.array(decoupled, dtype=str)
    adata.uns["simulation"] = simulation
    return adata


def knockout_screen(simulate: Callable[..., SimulatedGRN], targets: Sequence[str], *,
                    n_ko_cells: int = 300, key: str = "perturbation", seed: int = 0,
                    **kwargs) -> AnnData:
    """A screen-like AnnData: the wild type's cells (``control``) + knocked-out cells.

    Parameters
    ----------
    simulate
        :func:`hill_grn` or :func:`core.data.simulate.synthetic_grn` (takes ``seed`` and
        ``knockout``).
    targets
        TFs to knock out (clamped to 0), one simulation each.
    n_ko_cells
        Cells kept per knock-out (a random subset of that simulation's cells).
    key
        obs column holding ``control`` or the knocked-out TF.
    seed, kwargs
        Passed to ``simulate``.

    Returns
    -------
    AnnData
        Raw counts; ``uns['tf_names']`` and ``uns['true_network']`` of the wild type.
    """
    import anndata

    wild = simulate(seed=seed, **kwargs).adata
    wild.obs[key] = CONTROL
    parts, rng = [wild], np.random.default_rng(seed + 7)
    for i, tf in enumerate(targets):
        ko = simulate(seed=seed, knockout={tf: 0.0}, **kwargs).adata
        cells = np.sort(rng.choice(ko.n_obs, size=min(n_ko_cells, ko.n_obs), replace=False))
        ko = ko[cells].copy()
        ko.obs_names = [f"ko{i}_{n}" for n in ko.obs_names]
        ko.obs[key] = str(tf)
        parts.append(ko)
    out = anndata.concat(parts, join="outer")
    out.uns["tf_names"] = wild.uns["tf_names"]
    out.uns["true_network"] = wild.uns["true_network"]
    out.obs[key] = out.obs[key].astype("category")
    return out
