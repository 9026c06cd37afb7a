"""Low-dimensional embeddings: PCA (the baseline) and UMAP (for display)."""

from __future__ import annotations

from typing import Any

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


class KnnProjector:
    """Place new points into an existing 2-D embedding by their nearest reference points.

    The neighbour index on the reference latent is built once; each call then costs one
    k-nearest-neighbour query. A new point lands at the mean embedding position of its ``k``
    nearest reference points in latent space (Euclidean), so a point identical to a reference
    point lands on that point's coordinates when ``k=1``. Used instead of
    ``umap.UMAP.transform`` because it is fast enough to run on every slider move.

    Parameters
    ----------
    reference_latent
        Reference cells × latent dims (e.g. the unperturbed TF μ).
    reference_coords
        Reference cells × 2 (their UMAP).
    k
        Neighbours averaged per new point (capped at the number of reference cells).
    """

    def __init__(self, reference_latent: np.ndarray, reference_coords: np.ndarray, *,
                 k: int = 15):
        from sklearn.neighbors import NearestNeighbors

        reference_latent = np.asarray(reference_latent, dtype=np.float32)
        self.coords = np.asarray(reference_coords, dtype=np.float32)
        if len(reference_latent) != len(self.coords):
            raise ValueError("reference_latent and reference_coords need the same rows.")
        self.k = int(max(1, min(k, len(reference_latent))))
        self.index = NearestNeighbors(n_neighbors=self.k).fit(reference_latent)

    def __call__(self, new_latent: np.ndarray) -> np.ndarray:
        """``(n_new, 2)`` embedding positions of ``new_latent`` (n_new × latent dims)."""
        new_latent = np.asarray(new_latent, dtype=np.float32)
        if len(new_latent) == 0:
            return np.zeros((0, self.coords.shape[1]), dtype=np.float32)
        idx = self.index.kneighbors(new_latent, return_distance=False)
        return self.coords[idx].mean(axis=1).astype(np.float32)


def project_onto(reference_latent: np.ndarray, reference_coords: np.ndarray,
                 new_latent: np.ndarray, *, k: int = 15) -> np.ndarray:
    """Project ``new_latent`` into the embedding of the reference cells (kNN mean position).

    One-shot form of :class:`KnnProjector` (build it once instead when projecting repeatedly).

    Returns
    -------
    numpy.ndarray
        ``(n_new, 2)`` positions: the mean ``reference_coords`` of each new point's ``k``
        nearest reference points in latent space.
    """
    return KnnProjector(reference_latent, reference_coords, k=k)(new_latent)


def pca_streamed(chunks: Any, mean: np.ndarray, std: np.ndarray, n_components: int
                 ) -> np.ndarray:
    """PCA of the scaled data ``(L − mean) / std`` without forming it: L stays sparse.

    ``chunks()`` returns a fresh iterator over CSR row blocks of L (e.g. log1p values); it is
    walked twice, once for the gene × gene Gram matrix (``Lᵀ L``, sparse products) and once to
    project. Memory: genes² float64 (32 MB for 2,000 genes) plus one block. Exact principal
    components of the unclipped scaled data (the in-memory path clips at ±10 first, which moves
    only values beyond 10 SD).

    Returns
    -------
    numpy.ndarray
        cells × ``n_components`` float32 scores (component signs as sklearn's ``svd_flip``).
    """
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    gram = np.zeros((len(mean), len(mean)))
    n = 0
    for block in chunks():
        block = sp.csr_matrix(block, dtype=np.float64)
        gram += (block.T @ block).toarray()
        n += block.shape[0]
    cov = (gram / n - np.outer(mean, mean)) / np.outer(std, std)
    vals, vecs = np.linalg.eigh(cov)
    k = int(min(n_components, len(mean) - 1))
    comps = vecs[:, ::-1][:, :k]
    signs = np.sign(comps[np.argmax(np.abs(comps), axis=0), range(k)])
    comps = comps * signs
    w = comps / std[:, None]
    offset = (mean / std) @ comps
    return np.concatenate([np.asarray(sp.csr_matrix(b) @ w) - offset for b in chunks()]
                          ).astype(np.float32)
