"""Where the screen's knock-out signal comes from (issue 16 §3), as JSON.

On the bundled papalexi_eccite screen only STAT1, STAT2 and STAT3 are both targeted and TF
units. This script asks two questions about them:

1. How much does the prior network know? For every prior in ``assets/priors``, the number of
   each target's prior targets among the screen's measured genes.
2. Does borrowing the screen's OTHER knock-outs help, and does it matter which model says
   which of them to borrow? Each method's predicted Δ (TF-VAE default and the linear
   baselines, trained as in ``perturb_validation.py``: every cell except the scored targets'
   knock-outs) is used as a key: ``kernel_<m>`` predicts Σ_j w_j · measured_j over the other
   targets j, w = softmax(corr(Δ_m, measured_j) / τ); ``add_<m>`` predicts the perturbation
   mean plus α · Δ_m rescaled to its SD. No scored target's cells are used by any of them.

Usage: ``PYTHONPATH=. python benchmarks/perturb_screen_borrowing.py [--max-cells 6000]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np
import pandas as pd

TAUS = (0.1, 0.2, 0.5)
ALPHAS = (0.5, 1.0)
METHODS = ("tfvae", "correlation", "ridge", "propagation")


def prior_coverage(genes: list[str], targets: list[str]) -> dict[str, dict[str, int]]:
    """Prior → target TF → number of its prior targets among ``genes``."""
    from core.data.tfs import PRIORS, load_prior

    out = {}
    for key in PRIORS:
        if not key.endswith("human"):
            continue
        prior = load_prior(key)
        prior = prior[prior["target"].isin(set(genes))]
        out[key] = {t: int((prior["source"] == t).sum()) for t in targets}
    return out


def _key_similarity(delta: np.ndarray, other: pd.DataFrame, exclude: list[int]) -> np.ndarray:
    keep = np.setdiff1d(np.arange(len(delta)), exclude)
    d = delta[keep]
    if np.std(d) == 0:
        return np.zeros(len(other))
    return np.array([np.corrcoef(d, row[keep])[0, 1] for row in other.to_numpy()])


def borrowed(preds: dict[str, pd.DataFrame], other: pd.DataFrame, mean: pd.DataFrame,
             genes: list[str]) -> dict[str, pd.DataFrame]:
    """``kernel_<m>_tau<τ>`` and ``add_<m>_a<α>`` predictions (module docstring)."""
    out = {}
    for m, pred in preds.items():
        for tau in TAUS:
            rows = {}
            for t in pred.index:
                sims = _key_similarity(pred.loc[t].to_numpy(), other,
                                       [genes.index(t)] if t in genes else [])
                w = np.exp((sims - sims.max()) / tau)
                rows[t] = (w / w.sum()) @ other.to_numpy()
            out[f"kernel_{m}_tau{tau}"] = pd.DataFrame.from_dict(rows, orient="index",
                                                                 columns=genes)
        for a in ALPHAS:
            rows = {}
            for t in pred.index:
                d, base = pred.loc[t].to_numpy(), mean.loc[t].to_numpy()
                rows[t] = base + a * np.std(base) * d / (np.std(d) or 1.0)
            out[f"add_{m}_a{a}"] = pd.DataFrame.from_dict(rows, orient="index", columns=genes)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-cells", type=int, default=6000)
    parser.add_argument("--model", default="{}", help="JSON overrides of TFVAE_DEFAULTS")
    args = parser.parse_args()

    from perturb_validation import _real_screen

    from core.analysis import perturb_validation as pv
    from core.recipes.perturb_validate import screen_counts, train_and_validate

    t0 = time.perf_counter()
    screen, key, control = _real_screen(args.max_cells or None)
    with tempfile.TemporaryDirectory() as tmp:
        res, _ = train_and_validate(screen, perturbation_key=key, control=control,
                                    model=json.loads(args.model), runs_root=tmp,
                                    dataset="papalexi_eccite", with_prior=False)
    observed = res.observed.lfc
    scored, genes = list(observed.index), list(observed.columns)
    labels = screen.obs[key].astype(str).to_numpy()
    others = sorted(set(labels) - {control, "unassigned", *scored})
    cells = labels != "unassigned"
    other = pv.observed_effects(screen_counts(screen[cells][:, genes]), labels[cells], genes,
                                control=control, targets=others).lfc
    preds = {m: res.per_gene.pivot(index="target", columns="gene", values=m)[genes]
             for m in (*METHODS, "perturbation_mean")}
    preds.update(borrowed({m: preds[m] for m in METHODS}, other, preds["perturbation_mean"],
                          genes))
    scores = pv.score_methods(preds, observed)
    table = scores.pivot(index="method", columns="target", values=pv.HEADLINE)
    table["median"] = table.median(axis=1)
    table = table.sort_values("median", ascending=False).round(4)
    print(json.dumps({"headline": pv.HEADLINE, "model_overrides": json.loads(args.model),
                      "scored": scored, "borrowed_from": list(other.index),
                      "prior_targets_among_measured_genes": prior_coverage(genes, scored),
                      "per_method": table.to_dict("index"),
                      "wall_seconds": round(time.perf_counter() - t0, 1)}, indent=2))


if __name__ == "__main__":
    main()
