"""Validate TF-VAE knock-outs against a measured screen, beside baselines (issue 16 §2).

:func:`validate_run` scores a trained TF-VAE run on a screen (raw counts with a perturbation
column); :func:`train_and_validate` first trains the TF-VAE (default recipe) and the
prior-only-mask TF-VAE baseline on the allowed cells, then validates both.

Which cells the model and the baselines may learn from (``train_on``):

``"all-but-scored"`` (default, the stricter of the two the issue names): every cell except the
    knock-out cells of *every* scored target, so no scored perturbation is ever seen;
``"control"``: the control cells only.

The in-silico knock-out sets the TF's unit to its lowest value over the control cells
(:meth:`Perturber.presets`) in every control cell; Δ is reported as a log2 fold change of
normalised expression (NB/ZINB runs give it directly; Gaussian runs' Δ of scaled expression
is multiplied by each gene's SD of log1p expression and divided by ln 2). Baselines are fitted
on log1p(CP10k) of the same cells and predict ``effect · (min − mean of the TF)``, divided by
ln 2. Pearson r and sign agreement do not depend on a common scale. With ``all-but-scored``
the ``perturbation_mean`` baseline predicts every scored target as the mean measured effect of
the screen's other perturbations (cells the model may learn from too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from core.analysis import perturb_baselines as bl
from core.analysis import perturb_validation as pv
from core.errors import ConfigError, DataError

TRAIN_ON = ("all-but-scored", "control")
_LN2 = float(np.log(2.0))


@dataclass
class ValidationResult:
    """Scores of the model and the baselines on a screen.

    Attributes
    ----------
    scores
        One row per target and method (:func:`core.analysis.perturb_validation.score_methods`).
    summary
        Method → median of every score over the targets.
    per_gene
        ``target, gene, observed`` and one column per method.
    observed
        The measured effects (cells per target, skipped targets, replicates).
    notes
        What was scored, on which cells, and what was skipped (one line each).
    """

    scores: pd.DataFrame
    summary: dict[str, dict[str, float]]
    per_gene: pd.DataFrame
    observed: pv.ObservedEffects
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """``metrics.json`` content: per target and method, medians per method, notes."""
        per_target: dict[str, dict[str, Any]] = {}
        for row in self.scores.to_dict("records"):
            t = per_target.setdefault(row["target"], {"n_cells": self.observed.n_cells.get(
                row["target"]), "methods": {}})
            t["methods"][row["method"]] = {k: (None if pd.isna(row[k]) else round(float(row[k]),
                                                                                   4))
                                           for k in pv.METRICS}
            if row["winner"]:
                t.setdefault("winner", []).append(row["method"])
        return {"per_target": per_target, "median": self.summary,
                "headline": pv.HEADLINE, "n_control_cells": self.observed.n_cells.get("control"),
                "skipped": self.observed.skipped, "notes": self.notes}


def screen_counts(screen: Any) -> sp.csr_matrix:
    """Raw counts of a screen (``layers['counts']``, else X if it holds integers)."""
    x = screen.layers["counts"] if "counts" in screen.layers else screen.X
    x = sp.csr_matrix(x)
    if x.nnz and (x.data.min() < 0 or not np.allclose(x.data[:1000], np.round(x.data[:1000]))):
        raise DataError("The screen needs raw counts (X or layers['counts']) to measure fold "
                        "changes; this one holds normalised or scaled values. Load a screen with "
                        "counts (e.g. the bundled papalexi_eccite).")
    return x


def _labels(screen: Any, key: str) -> np.ndarray:
    if key not in screen.obs:
        raise DataError(f"obs has no column '{key}'; columns: {', '.join(map(str, screen.obs))}.")
    return screen.obs[key].astype(str).to_numpy()


def scoreable_targets(labels: np.ndarray, control: str, units: list[str],
                      targets: list[str] | None = None) -> list[str]:
    """Targets that are both perturbation values and model units (checked, one-line errors)."""
    values = sorted(set(labels) - {str(control)})
    can = [t for t in values if t in set(units)]
    if targets is None:
        if not can:
            raise DataError("No perturbation target is a TF unit of this model, so none can be "
                            f"scored (targets: {', '.join(values[:10])}).")
        return can
    for t in targets:
        if t not in values:
            raise DataError(f"No cells have the perturbation '{t}'; values include: "
                            f"{', '.join(values[:10])}.")
        if t not in units:
            raise DataError(f"'{t}' is not a TF unit of this model; targets that can be scored: "
                            f"{', '.join(can) or 'none'}.")
    return list(targets)


def train_cells(labels: np.ndarray, control: str, scored: list[str], train_on: str
                ) -> np.ndarray:
    """Boolean mask of the cells the model and baselines may learn from (see the module)."""
    if train_on not in TRAIN_ON:
        raise ConfigError(f"train_on must be one of {', '.join(TRAIN_ON)}.")
    if train_on == "control":
        return labels == str(control)
    return ~np.isin(labels, scored)


def _run_genes(run: Any, screen: Any) -> list[str]:
    if run.model != "tfvae":
        raise ConfigError(f"Run {run.id} is a '{run.model}' run; validation needs a TF-VAE run.")
    genes = [str(g) for g in run.config["module"]["gene_names"]]
    have = set(map(str, screen.var_names))
    missing = [g for g in genes if g not in have]
    if missing:
        raise DataError(f"Run {run.id} was trained on other data: {len(missing)} of its "
                        f"{len(genes)} genes are not in this screen (e.g. {', '.join(missing[:3])})"
                        "; pick the run trained on this dataset.")
    return genes


def _units(run: Any | None, screen: Any) -> tuple[list[str], list[str]]:
    """(genes, TF units): the run's, or every gene and the default list's TFs among them."""
    if run is not None:
        return _run_genes(run, screen), [str(t) for t in run.config["tfs"]]
    from core.recipes.tfvae import select_tfs

    genes = [str(g) for g in screen.var_names]
    tfs, _ = select_tfs(preprocess_cells(screen, np.ones(screen.n_obs, bool), genes))
    return genes, tfs


def preprocess_cells(screen: Any, cells: np.ndarray, genes: list[str]) -> Any:
    """Default preprocessing of the given cells and genes (every gene kept, no HVG subset)."""
    from core.data.preprocess import PreprocessConfig, preprocess

    sub = screen[np.flatnonzero(cells)][:, genes].copy()
    sub.X = screen_counts(sub)
    return preprocess(sub, PreprocessConfig(min_cells=0, n_top_genes=None))


def model_knockouts(run: Any, adata: Any, control_cells: np.ndarray, targets: list[str]
                    ) -> pd.DataFrame:
    """Targets × genes log2 fold change of the run's in-silico knock-out of each target."""
    from core.analysis.perturb import Perturber
    from core.analysis.tf_decoder import tf_decoder
    from core.training.inputs import inputs_for_run

    ctrl = adata[np.flatnonzero(control_cells)]
    p = Perturber(tf_decoder(run.load_module()), inputs_for_run(ctrl, run).encoder_input)
    factor = np.full(len(p.gene_names), 1.0)
    if not p.counts:
        log = adata.layers["log1p"]
        log = log.toarray() if sp.issparse(log) else np.asarray(log)
        factor = log.std(0, ddof=1) / _LN2
    rows = [p.apply({t: ("set", p.presets(t)["knock-out"])}).mean_delta * factor
            for t in targets]
    return pd.DataFrame(rows, index=targets, columns=p.gene_names)


def baseline_knockouts(adata: Any, tfs: list[str], targets: list[str],
                       prior: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """Method → targets × genes log2 fold change predicted by every baseline.

    Fitted on ``adata.layers['log1p']`` (the cells the model learned from).
    """
    genes = [str(g) for g in adata.var_names]
    x = adata.layers["log1p"]
    units = [t for t in tfs if t in set(genes)]
    effects = bl.fit_baselines(x, genes, units, prior)
    deltas = bl.knockout_deltas(x, genes, targets)
    return bl.knockout_predictions(effects, units, genes, deltas, scale=1.0 / _LN2)


def _add_perturbation_mean(preds: dict[str, pd.DataFrame], counts: sp.csr_matrix,
                           labels: np.ndarray, genes: list[str], control: str,
                           scored: list[str], *, min_cells: int, train_on: str) -> str:
    """Add :func:`~core.analysis.perturb_validation.mean_of_other_effects` as method
    ``perturbation_mean`` when the cells allowed for learning hold other perturbations
    (``all-but-scored``); the note says what it used or why it is absent."""
    if train_on != "all-but-scored":
        return "perturbation mean: not scored (baselines learn from control cells only)"
    others = sorted(set(map(str, labels)) - {str(control), *map(str, scored)})
    other = pv.observed_effects(counts, labels, genes, control=control, targets=others,
                                min_cells=min_cells).lfc if others else pd.DataFrame()
    if other.empty:
        return "perturbation mean: not scored (no other perturbation with enough cells)"
    preds["perturbation_mean"] = pv.mean_of_other_effects(other, scored)
    return f"perturbation mean: the mean measured effect of {len(other)} other target(s)"


def validate_run(run: Any | None, screen: Any, *, perturbation_key: str, control: str,
                 targets: list[str] | None = None, train_on: str = "all-but-scored",
                 prior_run: Any | None = None, replicate_key: str | None = None,
                 min_cells: int = pv.MIN_CELLS, drop: tuple[str, ...] = ("unassigned",),
                 ensemble: list[Any] | None = None) -> ValidationResult:
    """Score a TF-VAE run's knock-outs (and the baselines) against a screen.

    Parameters
    ----------
    run
        A TF-VAE :class:`~core.runs.Run` whose genes are all in ``screen``; ``None``
        scores the baselines only, over the TFs of the species' default list.
    screen
        Raw counts (X or ``layers['counts']``) with the perturbation column in obs.
    perturbation_key, control
        The obs column and its control value.
    targets
        Targets to score (default: every perturbation that is a TF unit of the run).
    train_on
        Cells the baselines learn from, as the run did (module docstring).
    prior_run
        The prior-only-mask TF-VAE, scored as method ``tfvae_prior`` when given.
    replicate_key
        obs column of replicates: also per-replicate fold changes (``observed.per_replicate``).
    min_cells
        Targets with fewer knocked-out cells are skipped and listed.
    drop
        Perturbation values left out altogether (``unassigned`` cells of a screen).
    ensemble
        Further runs of the same recipe (other seeds): ``tfvae`` is then the mean of every
        run's predicted Δ.

    Returns
    -------
    ValidationResult
    """
    from core.recipes.tfvae import resolve_prior

    labels = _labels(screen, perturbation_key)
    if np.isin(labels, list(drop)).any():
        screen = screen[~np.isin(labels, list(drop))]
        labels = _labels(screen, perturbation_key)
    genes, tfs = _units(run, screen)
    wanted = scoreable_targets(labels, control, tfs, targets)
    reps = _labels(screen, replicate_key) if replicate_key else None
    counts = screen_counts(screen[:, genes])
    observed = pv.observed_effects(counts, labels, genes, control=control, targets=wanted,
                                   replicates=reps, min_cells=min_cells)
    scored = list(observed.lfc.index)
    if not scored:
        raise DataError(f"Every target has fewer than {min_cells} cells "
                        f"({'; '.join(f'{k}: {v}' for k, v in observed.skipped.items())}).")
    cells = train_cells(labels, control, scored, train_on)
    adata = preprocess_cells(screen, cells, genes)
    is_ctrl = labels[cells] == str(control)
    preds = {}
    if run is not None:
        members = [model_knockouts(r, adata, is_ctrl, scored) for r in [run, *(ensemble or [])]]
        preds["tfvae"] = sum(members) / len(members)
    if prior_run is not None:
        preds["tfvae_prior"] = model_knockouts(prior_run, adata, is_ctrl, scored)
    settings = run.config.get("settings", {}) if run is not None else {}
    prior, prior_label = resolve_prior(screen, settings.get("prior"))
    preds.update(baseline_knockouts(adata, tfs, scored, prior))
    mean_note = _add_perturbation_mean(preds, counts, labels, genes, control, scored,
                                       min_cells=min_cells, train_on=train_on)
    scores = pv.score_methods(preds, observed.lfc)
    notes = [f"scored {len(scored)} target(s): {', '.join(scored)}",
             f"baselines learn from {int(cells.sum())} cells ({train_on})"
             + (f"; the run was trained on {run.config['data'].get('n_obs')} cells"
                if run is not None else "")
             + f"; knock-outs applied to {int(is_ctrl.sum())} control cells",
             f"propagation prior: {prior_label}", mean_note]
    notes += [f"skipped {t}: {why}" for t, why in observed.skipped.items()]
    return ValidationResult(scores=scores, summary=pv.summarise(scores),
                            per_gene=pv.per_gene_table(preds, observed.lfc),
                            observed=observed, notes=notes)


def train_and_validate(screen: Any, *, perturbation_key: str, control: str,
                       targets: list[str] | None = None, train_on: str = "all-but-scored",
                       model: dict[str, Any] | None = None, train: Any = None,
                       with_prior: bool = True, drop: tuple[str, ...] = ("unassigned",),
                       runs_root: str | Path | None = None, dataset: str = "screen",
                       replicate_key: str | None = None, n_models: int = 1
                       ) -> tuple[ValidationResult, Any]:
    """Train the TF-VAE (and the prior-only-mask baseline) on the allowed cells, validate.

    Parameters
    ----------
    screen
        Raw-count screen (see :func:`validate_run`).
    perturbation_key, control, targets, train_on, replicate_key
        As for :func:`validate_run`; without ``targets``, every perturbation that is one of the
        selected TFs is scored.
    model, train
        Overrides of :data:`~core.recipes.tfvae.TFVAE_DEFAULTS` and the
        :class:`~core.training.trainer.TrainConfig`.
    with_prior
        Also train the recipe with ``mask_source="prior"`` (method ``tfvae_prior``).
    drop
        Perturbation values left out altogether (``unassigned`` cells of a screen).
    runs_root, dataset
        Where the run folders go and the dataset name they record.
    n_models
        Train this many TF-VAEs (seeds 0, 1, …) and score the mean of their predictions.

    Returns
    -------
    (ValidationResult, Run)
        The scores and the default TF-VAE run.
    """
    from core.recipes.tfvae import select_tfs, train_tfvae

    labels = _labels(screen, perturbation_key)
    screen = screen[~np.isin(labels, list(drop))].copy()
    labels = _labels(screen, perturbation_key)
    genes = [str(g) for g in screen.var_names]
    allcells = preprocess_cells(screen, np.ones(screen.n_obs, bool), genes)
    settings = {**(model or {})}
    tfs, _ = select_tfs(allcells, settings.get("tf_list"),
                        max_tfs=settings.get("max_tfs", 200))
    wanted = scoreable_targets(labels, control, tfs, targets)
    sizes = pd.Series(labels).value_counts()
    scored = [t for t in wanted if sizes.get(t, 0) >= pv.MIN_CELLS]
    cells = train_cells(labels, control, scored, train_on)
    adata = preprocess_cells(screen, cells, genes)
    settings.setdefault("tf_list", tfs)
    run = train_tfvae(adata, dataset=dataset, model=settings, train=train, runs_root=runs_root)
    from dataclasses import replace

    from core.recipes.tfvae import TFVAE_TRAIN_DEFAULTS

    base = train or TFVAE_TRAIN_DEFAULTS
    ensemble = [train_tfvae(adata, dataset=dataset, model=settings, runs_root=runs_root,
                            train=replace(base, seed=base.seed + k))
                for k in range(1, int(n_models))]
    prior_run = None
    if with_prior:
        prior_run = train_tfvae(adata, dataset=dataset, runs_root=runs_root, train=train,
                                model={**settings, "mask_source": "prior", "backbone": "none"})
    result = validate_run(run, screen, perturbation_key=perturbation_key, control=control,
                          targets=wanted, train_on=train_on, prior_run=prior_run,
                          replicate_key=replicate_key, ensemble=ensemble)
    return result, run
