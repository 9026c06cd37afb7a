"""Low-dimensional embeddings: PCA (the baseline) and UMAP (for display)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def pca(x: np.ndarray | sp.spmatrix, n_components: int, *, seed: int = 0) -> np.ndarray:
    """Principal components of cells × genes (centred; sparse input stays sparse)."""
    from sklearn.decomposition import PCA

    n_components = int(min(n_components, min(x.shape) - 1))
    solver = "arpack" if sp.issparse(x) else "auto"
    model = PCA(n_components=n_components, svd_solver=solver, random_state=seed)
    return model.fit_transform(x.astype(np.float32) if sp.issparse(x) else np.asarray(
        x, dtype=np.float32)).astype(np.float32)


def umap(embedding: np.ndarray, *, n_neighbors: int = 15, min_dist: float = 0.5,
         seed: int = 0) -> np.ndarray:
    """2-D UMAP of an embedding (umap-learn; scanpy's defaults for neighbours and min_dist)."""
    import umap as umap_learn

    reducer = umap_learn.UMAP(n_neighbors=min(n_neighbors, len(embedding) - 1),
                              min_dist=min_dist, random_state=seed, n_components=2)
    return reducer.fit_transform(np.asarray(embedding, dtype=np.float32)).astype(np.float32)
