"""Write a run's results into an AnnData in the conventional slots (the scanpy ``tl`` way)."""

from __future__ import annotations

import json
from typing import Any

from core.errors import DataError
from core.runs.store import Run


def h5ad_safe(obj: Any) -> Any:
    """``obj`` (parsed JSON) with what ``.h5ad`` cannot store replaced, values kept.

    ``None`` becomes ``"None"``, a ``/`` in a key (an HDF5 group separator) becomes ``_`` and a
    list mixing types becomes a list of strings. A text replace of ``null`` on the JSON broke
    any name or key containing "null" (issue 19, item 8).
    """
    if obj is None:
        return "None"
    if isinstance(obj, dict):
        return {str(k).replace("/", "_") or "_": h5ad_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        items = [h5ad_safe(v) for v in obj]
        kinds = {type(v) for v in items}
        if kinds <= {int, float} or kinds <= {str} or kinds <= {bool}:
            return items
        return [json.dumps(v) if isinstance(v, (dict, list)) else str(v) for v in items]
    return obj


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
    params = h5ad_safe(json.loads(json.dumps(run.config, default=str)))
    out.uns[key] = {"params": params, "metrics": {k: v for k, v in run.metrics.items()
                                                  if isinstance(v, (int, float, str))}}
    if run.config.get("tfs"):
        out.uns[key]["tf_names"] = [str(t) for t in run.config["tfs"]]
    return out
