"""Write a run's results into an AnnData in the conventional slots (the scanpy ``tl`` way)."""

from __future__ import annotations

import json
from typing import Any

from core.errors import DataError
from core.runs.store import Run


def annotate_adata(adata: Any, run: Run, *, key: str = "vae") -> Any:
    """A copy of ``adata`` with the run's results written in (this helper does mutate the copy).

    Writes ``obsm['X_<key>']`` (latent means), ``obsm['X_pca']`` (the baseline PCA, when
    stored), ``obsm['X_umap']`` (when ``run.arrays`` has ``umap``), ``obs['<key>_kmeans']`` /
    ``obs['<key>_leiden']`` clusters and ``uns['<key>']['params']`` (the run config). For a
    TF-VAE run (``key="tfvae"``) the latent columns are TF activities and
    ``uns['<key>']['tf_names']`` names them, in order.
    """

    out = adata.copy()
    if run.latent is None or run.latent.shape[0] != out.n_obs:
        raise DataError("This run does not match the loaded data (different number of cells).")
    out.obsm[f"X_{key}"] = run.latent
    if "pca" in run.arrays:
        out.obsm["X_pca"] = run.arrays["pca"]
    if "umap" in run.arrays:
        out.obsm["X_umap"] = run.arrays["umap"]
    for method in ("kmeans", "leiden"):
        lab = run.arrays.get(f"clusters_{method}_vae")
        if lab is not None:
            out.obs[f"{key}_{method}"] = lab.astype(str)
            out.obs[f"{key}_{method}"] = out.obs[f"{key}_{method}"].astype("category")
    # h5ad cannot store None; a JSON round trip with None → "None" keeps every setting.
    params = json.loads(json.dumps(run.config, default=str).replace("null", '"None"'))
    out.uns[key] = {"params": params, "metrics": {k: v for k, v in run.metrics.items()
                                                  if isinstance(v, (int, float, str))}}
    if run.config.get("tfs"):
        out.uns[key]["tf_names"] = [str(t) for t in run.config["tfs"]]
    return out
