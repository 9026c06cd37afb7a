"""TF-VAE knock-outs vs measured ones, beside every baseline, as JSON (issue 16).

Three screens, each scored by :func:`core.recipes.perturb_validate.train_and_validate`
(default: train on every cell except the scored targets' knock-out cells; the default TF-VAE
and the prior-only-mask TF-VAE are trained there, the linear baselines fitted there):

* ``papalexi_eccite``: the bundled ECCITE-seq screen (``unassigned`` cells dropped); every
  perturbation that is a TF unit is scored (STAT1, STAT2, STAT3: the only targeted TFs that
  are measured genes). ``--max-cells`` subsamples the training cells on CPU (the knock-out
  cells and fold changes always use every cell).
* ``synthetic_grn``: the project's simulator (seed 0), a screen of the 10 TFs with the most
  outgoing true edges (300 cells each, activity clamped to 0), controls = the 2000 wild-type
  cells.
* ``hill_grn``: :mod:`core.data.simulate_hill` (Hill kinetics, feedback, decoupled TFs,
  800 cells), the same way.

Headline: median over targets of Pearson r on the 50 most-changed measured genes.

Usage: ``PYTHONPATH=. python benchmarks/perturb_validation.py [--model '{"likelihood": "nb"}']
[--datasets papalexi_eccite,synthetic_grn,hill_grn] [--epoch-scale 1] [--max-cells 6000]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np

HEADLINE = "pearson_top50"


def _sim_screen(name: str, n_targets: int):
    from core.data.simulate import synthetic_grn
    from core.data.simulate_hill import hill_grn, knockout_screen

    simulate = synthetic_grn if name == "synthetic_grn" else hill_grn
    wild = simulate(seed=0)
    degree = wild.network["source"].value_counts()
    tfs = [str(t) for t in wild.adata.uns["tf_names"]]
    chosen = sorted(tfs, key=lambda t: (-int(degree.get(t, 0)), t))[:n_targets]
    return knockout_screen(simulate, chosen, n_ko_cells=300, seed=0), "perturbation", "control"


def _real_screen(max_cells: int | None, seed: int = 0):
    from core.data.registry import load_bundled

    screen = load_bundled("papalexi_eccite")
    labels = screen.obs["target_assigned"].astype(str).to_numpy()
    keep = labels != "unassigned"
    if max_cells:
        rng = np.random.default_rng(seed)
        # keep every knock-out cell of the TFs that can be scored, subsample the rest
        scored = np.isin(labels, ["STAT1", "STAT2", "STAT3", "non-targeting"])
        other = np.flatnonzero(keep & ~scored)
        n_other = max(0, max_cells - int((keep & scored).sum()))
        pick = rng.choice(other, size=min(n_other, len(other)), replace=False)
        keep = (keep & scored) | np.isin(np.arange(len(labels)), pick)
    return screen[keep].copy(), "target_assigned", "non-targeting"


def _one(name: str, model: dict, max_cells: int | None, n_targets: int,
         n_models: int = 1, seed: int = 0) -> dict:
    from dataclasses import replace

    from core.recipes.perturb_validate import train_and_validate
    from core.recipes.tfvae import TFVAE_TRAIN_DEFAULTS

    if name == "papalexi_eccite":
        screen, key, control = _real_screen(max_cells)
        rep = "bio_rep"
    else:
        screen, key, control = _sim_screen(name, n_targets)
        rep = None
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        res, run = train_and_validate(screen, perturbation_key=key, control=control,
                                      model=model, runs_root=tmp, dataset=name,
                                      replicate_key=rep, n_models=n_models,
                                      train=replace(TFVAE_TRAIN_DEFAULTS, seed=seed))
    out = res.to_json()
    per_target = {t: {m: s[HEADLINE] for m, s in v["methods"].items()}
                  for t, v in out["per_target"].items()}
    medians = {m: s[HEADLINE] for m, s in out["median"].items()}
    best_baseline = max((v for m, v in medians.items() if m != "tfvae" and v is not None),
                        default=None)
    result = {"cells": int(screen.n_obs), "tfs_in_model": len(run.config["tfs"]),
              "likelihood": run.config["settings"]["likelihood"],
              "train_seconds_per_model": round(run.metrics["train_seconds"], 1),
              "wall_seconds": round(time.perf_counter() - t0, 1),
              f"median_{HEADLINE}": medians,
              "tfvae_minus_best_baseline": (None if best_baseline is None or medians["tfvae"]
                                            is None else round(medians["tfvae"]
                                                               - best_baseline, 4)),
              f"per_target_{HEADLINE}": per_target, "median_all_scores": out["median"],
              "notes": out["notes"]}
    if res.observed.per_replicate is not None:
        from core.analysis.perturb_validation import replicate_agreement

        result["replicate_vs_pooled_pearson_top50"] = replicate_agreement(
            res.observed.per_replicate, res.observed.lfc)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="{}", help="JSON overrides of TFVAE_DEFAULTS")
    parser.add_argument("--datasets", default="papalexi_eccite,synthetic_grn,hill_grn")
    parser.add_argument("--epoch-scale", type=float, default=1.0)
    parser.add_argument("--max-cells", type=int, default=6000,
                        help="training cells kept on the real screen (0: all)")
    parser.add_argument("--n-targets", type=int, default=10)
    parser.add_argument("--n-models", type=int, default=1,
                        help="ensemble: TF-VAEs of different seeds, predictions averaged")
    parser.add_argument("--seed", type=int, default=0,
                        help="training seed of the TF-VAEs (the screens stay seed 0)")
    args = parser.parse_args()

    from core.recipes.tfvae import TFVAE_DEFAULTS

    model = json.loads(args.model)
    if args.epoch_scale != 1.0:
        model.update({k: max(1, int(round(v * args.epoch_scale)))
                      for k, v in TFVAE_DEFAULTS.items() if k.startswith("epochs_")})
    t0 = time.perf_counter()
    results = {name: _one(name, model, args.max_cells or None, args.n_targets, args.n_models,
                          args.seed)
               for name in args.datasets.split(",")}
    print(json.dumps({"model_overrides": model, "epoch_scale": args.epoch_scale,
                      "n_models": args.n_models, "seed": args.seed,
                      "max_cells_real_screen": args.max_cells, "headline": HEADLINE,
                      "datasets": results, "wall_seconds": round(time.perf_counter() - t0, 1)},
                     indent=2))


if __name__ == "__main__":
    main()
