"""AnnData in, results in the conventional slots (``obsm['X_vae']``, ``uns[key]['params']``)."""

from core.tl.annotate import annotate_adata

__all__ = ["annotate_adata"]
