"""Gene features for the DeepSet phenotype model: a table, or a trained run of this product.

Feature sources (issue 17): (a) ``learned`` (an embedding per gene, no file); (b) a user's
genes × features table (:func:`core.data.phenotypes.read_feature_table`); (c) a run folder:

- a TF-VAE run gives each gene its row of the masked TF→gene weights (``tf2gene.weight ×
  tf2gene.mask``: one value per TF, zero where the mask pruned the edge);
- a β-VAE or scGen run gives each gene its decoder output loadings (``out.weight``: one value
  per unit of the last decoder layer). The gene names are the run's ``gene_names`` when it
  records them, otherwise those of the data it was trained on (:func:`core.runs.run_data`,
  checked by fingerprint).

Columns are standardised (mean 0, sd 1) so no feature dominates by its units.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.data.phenotypes import GeneFeatures, read_feature_table, standardise_columns
from core.errors import ConfigError, DataError
from core.runs import Run, load_run, run_data

#: Model name → the state-dict key of its gene loadings.
GENE_LOADINGS = {"tfvae": "tf2gene.weight", "betavae": "out.weight", "scgen": "out.weight"}


def _run_gene_names(run: Run) -> list[str]:
    names = (run.config.get("module") or {}).get("gene_names")
    if names:
        return [str(g) for g in names]
    try:
        return [str(g) for g in run_data(run).var_names]
    except (DataError, OSError, ValueError) as exc:
        raise DataError(f"Run {run.id} does not record its gene names and its data cannot be "
                        f"read again ({exc}); use a TF-VAE run or a feature table.") from None


def run_gene_features(run_dir: str | Path | Run) -> GeneFeatures:
    """Gene features from a trained TF-VAE, β-VAE or scGen run folder.

    Parameters
    ----------
    run_dir
        A run folder (or a loaded :class:`~core.runs.Run`).

    Returns
    -------
    GeneFeatures
        One row per gene of the run; ``source`` is ``run:<id>:<key>``.

    Raises
    ------
    DataError
        Another kind of run, or weights that do not match the run's genes.
    """
    run = run_dir if isinstance(run_dir, Run) else load_run(run_dir)
    key = GENE_LOADINGS.get(run.model)
    if key is None:
        raise DataError(f"Run {run.id} is a '{run.model}' run; gene features come from a "
                        "TF-VAE, β-VAE or scGen run.")
    genes = _run_gene_names(run)
    state = run.load_module().state_dict()
    weights = state[key].float().numpy()
    mask_key = key.replace(".weight", ".mask")
    if mask_key in state:
        weights = weights * state[mask_key].float().numpy()
    if weights.shape[0] != len(genes):
        raise DataError(f"Run {run.id} has {weights.shape[0]} rows of '{key}' for "
                        f"{len(genes)} genes; it cannot give gene features.")
    weights = weights[:, np.abs(weights).sum(axis=0) > 0]      # TFs whose edges were all pruned
    return GeneFeatures(genes=genes, matrix=standardise_columns(weights),
                        source=f"run:{run.id}:{key}")


def gene_features(spec: str | Path) -> GeneFeatures | None:
    """``'learned'`` → ``None``; a run folder → :func:`run_gene_features`; a file → a table.

    Raises
    ------
    ConfigError
        When ``spec`` is none of these.
    """
    if str(spec) == "learned":
        return None
    path = Path(spec)
    if path.is_dir():
        return run_gene_features(path)
    if path.is_file():
        return read_feature_table(path)
    raise ConfigError(f"Features '{spec}' is not 'learned', a feature table file or a run folder.")
