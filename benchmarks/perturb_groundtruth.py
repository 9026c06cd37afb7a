"""In-silico knock-outs of a TF-VAE against the simulator's own knock-outs, as JSON.

1. Simulate ``synthetic_grn`` (default size, seed 0), preprocess it as the app does and train a
   TF-VAE with the recipe's default settings (``--epoch-scale`` < 1 shortens every phase).
2. For the 10 TFs with the most outgoing true edges, knock the TF out in the simulator
   (``synthetic_grn(knockout={tf: a_min})``: same seed and draws, the TF's activity clamped to
   its observed minimum ``a_min``) and in the model (``Perturber``, the unit set to its
   observed minimum μ, all cells).
3. True mean Δ per gene, in the model's units: mean over cells of the change in
   log1p(total-count-normalised noiseless expected counts), divided by the gene's SD used by
   the scaling step (so it is comparable to Δ of the scaled expression the model predicts).
4. Per TF: Pearson r between predicted and true Δ across genes, and sign agreement on the 20
   genes with the largest true |Δ|; the knocked TF's own gene is left out (every method gets
   it right). Medians over the 10 TFs, beside two baselines computed the same way:
   ``ridge`` (each gene regressed on the TFs' scaled expression, Δ = coef × ΔTF) and
   ``correlation`` (Δ_g = corr(gene, TF) × ΔTF, both in SD units), with ΔTF = the TF's
   observed minimum minus its mean (scaled expression).

With ``--likelihood nb`` (or ``zinb``) the TF-VAE models the raw counts and predicts log2 fold
changes of the normalised expression; the truth is then the mean over cells of
log2(normalised noiseless expected counts, knock-out / wild type). Pearson r and the sign
agreement do not depend on the units, so the scores are comparable across likelihoods.

Usage: ``PYTHONPATH=. python benchmarks/perturb_groundtruth.py [--epoch-scale 1.0]
[--likelihood nb]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np


def _true_delta(wild_mean: np.ndarray, ko_mean: np.ndarray, cols: np.ndarray, sd: np.ndarray,
                target_sum: float) -> np.ndarray:
    def logn(m: np.ndarray) -> np.ndarray:
        return np.log1p(m / m.sum(1, keepdims=True) * target_sum)[:, cols]
    return (logn(ko_mean) - logn(wild_mean)).mean(0) / sd


def _true_log2fc(wild_mean: np.ndarray, ko_mean: np.ndarray, cols: np.ndarray) -> np.ndarray:
    def log2n(m: np.ndarray) -> np.ndarray:
        return np.log2(m / m.sum(1, keepdims=True))[:, cols]
    return (log2n(ko_mean) - log2n(wild_mean)).mean(0)


def _scores(pred: np.ndarray, true: np.ndarray, top: int = 20) -> tuple[float, float]:
    r = float(np.corrcoef(pred, true)[0, 1]) if pred.std() > 0 else float("nan")
    idx = np.argsort(-np.abs(true), kind="stable")[:top]
    return r, float(np.mean(np.sign(pred[idx]) == np.sign(true[idx])))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epoch-scale", type=float, default=1.0)
    parser.add_argument("--n-tfs", type=int, default=10)
    parser.add_argument("--likelihood", choices=("gaussian", "nb", "zinb"), default="gaussian")
    args = parser.parse_args()

    from sklearn.linear_model import Ridge

    from core.analysis.perturb import perturber_for_run
    from core.data.preprocess import PreprocessConfig, preprocess
    from core.data.simulate import synthetic_grn
    from core.recipes.tfvae import TFVAE_DEFAULTS, train_tfvae
    from core.training.inputs import model_input

    t_start = time.perf_counter()
    wild = synthetic_grn(seed=0)
    adata = preprocess(wild.adata)
    model = {k: max(1, int(round(v * args.epoch_scale))) for k, v in TFVAE_DEFAULTS.items()
             if k.startswith("epochs_")}
    model["likelihood"] = args.likelihood
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run = train_tfvae(adata, dataset="synthetic_grn", label_key="cell_type", model=model,
                          run_dir=f"{tmp}/run")
        train_seconds = time.perf_counter() - t0
        p = perturber_for_run(run, adata)
    x = model_input(adata)
    x = x.toarray() if hasattr(x, "toarray") else np.asarray(x)
    genes = [str(g) for g in adata.var_names]
    all_genes = [str(g) for g in wild.adata.var_names]
    cols = np.array([all_genes.index(g) for g in genes])
    sd = np.asarray(adata.layers["log1p"].toarray() if hasattr(adata.layers["log1p"], "toarray")
                    else adata.layers["log1p"]).std(0, ddof=1)
    sd = np.where(sd > 0, sd, 1.0)
    target_sum = PreprocessConfig().target_sum

    model_tfs = [t for t in p.tf_names if t in genes]
    out_degree = wild.network["source"].value_counts()
    chosen = sorted(model_tfs, key=lambda t: (-int(out_degree.get(t, 0)), t))[:args.n_tfs]
    tf_cols = [genes.index(t) for t in model_tfs]
    ridge = Ridge(alpha=1.0).fit(x[:, tf_cols], x)
    xc = (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1.0)
    corr = xc.T @ xc[:, tf_cols] / len(xc)                      # genes × TFs

    methods = ("tfvae", "ridge", "correlation")
    per_tf = []
    for tf in chosen:
        k_sim = all_genes.index(tf)
        a_min = float(wild.activity[:, k_sim].min())
        ko = synthetic_grn(seed=0, knockout={tf: a_min})
        true = (_true_delta(wild.mean, ko.mean, cols, sd, target_sum) if not p.counts
                else _true_log2fc(wild.mean, ko.mean, cols))
        g_tf = genes.index(tf)
        d_tf = float(x[:, g_tf].min() - x[:, g_tf].mean())
        j = model_tfs.index(tf)
        preds = {"tfvae": p.apply({tf: ("set", p.presets(tf)["knock-out"])}).mean_delta,
                 "ridge": ridge.coef_[:, j] * d_tf, "correlation": corr[:, j] * d_tf}
        keep = np.arange(len(genes)) != g_tf
        row = {"tf": tf, "out_edges_true": int(out_degree.get(tf, 0)),
               "true_abs_delta_max": round(float(np.abs(true[keep]).max()), 4)}
        for m in methods:
            r, sign = _scores(np.asarray(preds[m], float)[keep], true[keep])
            row[f"{m}_r"], row[f"{m}_sign20"] = round(r, 4), round(sign, 4)
        per_tf.append(row)

    summary = {m: {"median_pearson_r": round(float(np.nanmedian([r[f"{m}_r"] for r in per_tf])),
                                             4),
                   "median_sign_agreement_top20": round(float(np.median(
                       [r[f"{m}_sign20"] for r in per_tf])), 4)} for m in methods}
    result = {
        "dataset": "synthetic_grn(seed=0): 2000 cells, 500 genes, 40 TFs",
        "genes_after_preprocessing": len(genes), "tfs_in_model": len(p.tf_names),
        "epochs": {k: v for k, v in model.items() if k.startswith("epochs_")},
        "epoch_scale": args.epoch_scale, "likelihood": args.likelihood,
        "units": p.units,
        "train_seconds": round(train_seconds, 1),
        "align_median_r": run.metrics.get("align_median_r"),
        "knockout": "simulator: activity clamped to its observed minimum (same draws); "
                    "model: unit set to its observed minimum μ, all cells",
        "tfs": chosen, "targets": {"median_pearson_r": 0.5, "median_sign_agreement_top20": 0.8},
        "summary": summary, "per_tf": per_tf,
        "wall_seconds": round(time.perf_counter() - t_start, 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
