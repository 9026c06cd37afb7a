"""Export the preprocessed bundled data as .npz for the sweeps (run here: needs scanpy).

The GPU machine has torch, numpy, pandas and scikit-learn but not scanpy or anndata, so the
sweeps read these arrays instead of the datasets. Writes into ``DIR`` (default
``sweep_data/``, git-ignored):

* ``kang.npz`` (log-normalised, for scGen) and ``kang_degs.csv`` (scanpy Wilcoxon per type);
* ``syn{0,1,2}.npz``: scaled ``synthetic_grn`` networks with their true edges;
* ``bv_kang_pbmc.npz``, ``bv_zeisel_cortex.npz``: scaled X, HVG flags, normalised
  dispersions (to rank genes) and labels.

    PYTHONPATH=. python benchmarks/sweeps/export.py [DIR]
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd


def _dense(x) -> np.ndarray:
    return np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float32)


def main(out: Path) -> None:
    from core.analysis import scgen as sg
    from core.data.io import read
    from core.data.preprocess import preprocess
    from core.data.registry import DATASETS
    from core.data.simulate import synthetic_grn
    from core.recipes.scgen import holdout_candidates
    from core.recipes.tfvae import select_tfs
    from core.training.inputs import model_input

    out.mkdir(parents=True, exist_ok=True)
    kang = preprocess(read("kang_pbmc").adata)
    x = sg.log_expression(kang)
    base = sg.ScgenSpec("condition", "control", "stimulated", "cell_type", "CD4T")
    degs = {}
    for t in holdout_candidates(kang.obs, base):
        split = sg.split_cells(kang.obs, replace(base, holdout=t))
        degs[t] = sg.rank_degs(x[split.holdout_ctrl_idx], x[split.holdout_stim_idx],
                               kang.var_names)
    np.savez_compressed(out / "kang.npz", x=x, var_names=np.array(kang.var_names.astype(str)),
                        condition=kang.obs["condition"].astype(str).values,
                        cell_type=kang.obs["cell_type"].astype(str).values,
                        obs_names=np.array(kang.obs_names.astype(str)))
    pd.concat(degs, names=["holdout"]).to_csv(out / "kang_degs.csv")

    for seed in (0, 1, 2):
        sim = synthetic_grn(seed=seed)
        ad = preprocess(sim.adata)
        tfs, _ = select_tfs(ad, None, max_tfs=200)
        np.savez_compressed(out / f"syn{seed}.npz", x=_dense(model_input(ad)),
                            counts=_dense(ad.layers["counts"]),
                            genes=np.array(ad.var_names.astype(str)), tfs=np.array(tfs),
                            tt_src=sim.tf2tf.source.values.astype(str),
                            tt_tgt=sim.tf2tf.target.values.astype(str),
                            tg_src=sim.tf2gene.source.values.astype(str),
                            tg_tgt=sim.tf2gene.target.values.astype(str))

    for name in ("kang_pbmc", "zeisel_cortex"):
        ad = preprocess(read(name).adata)
        hvg = (ad.var["highly_variable"].to_numpy(bool) if "highly_variable" in ad.var
               else np.ones(ad.n_vars, bool))
        disp = (ad.var["dispersions_norm"].to_numpy(float) if "dispersions_norm" in ad.var
                else np.zeros(ad.n_vars))
        np.savez_compressed(out / f"bv_{name}.npz", x=_dense(model_input(ad)), hvg=hvg,
                            dispersion=np.nan_to_num(disp, nan=-np.inf),
                            labels=ad.obs[DATASETS[name].label_key].astype(str).values)
    print(f"wrote {sorted(p.name for p in out.iterdir())}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "sweep_data"))
