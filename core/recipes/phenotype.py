"""Recipe: phenotype of a set of perturbed genes with a DeepSet (DESIGN §6).

``train(table, settings=…, out_dir=…)`` splits the table without leakage, fits the DeepSet with
Adam, gradient-norm clipping and early stopping, scores it on the held-out part beside the
mean, additive and matrix-factorisation baselines, and writes a run folder: ``config.json``
(every setting, the seed, ``"model": "deepset"``), ``metrics.json``, ``history.csv``,
``model.pt``, ``heldout.csv`` (test sets, model and baselines) and ``sets.csv`` (every set
with its part: train, val or test). ``predict(run_dir, sets)`` reads it back.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from core.analysis import phenotype as ph
from core.data.phenotypes import PhenotypeTable, join_set, load_features, parse_set
from core.errors import ConfigError, DataError
from core.models.deepset import POOLS, DeepSet
from core.training.progress import Progress
from core.training.runs import Run, load_run, save_run
from core.training.sets import fit_sets, pad_sets

MODEL = "deepset"
#: Baselines scored beside the model, in the order tables show them.
BASELINES = ("mean", "additive", "additive_linear", "mf")


@dataclass(frozen=True)
class PhenotypeSettings:
    """Every setting of a DeepSet phenotype run; validated on construction.

    Defaults come from ``benchmarks/phenotype_bench.py`` (results/phenotype.json) on Norman 2019
    pairs: with weight decay 1e-4 (or 1e-3) and width 64 the held-out interaction r swung from
    −0.12 to 0.87 across seeds 0–2 (early stopping at epochs 2–9); width 32, embedding 16 and
    no weight decay gave 0.923 / 0.934 / 0.936 (matrix factorisation 0.822 / 0.835 / 0.864).
    """

    features: str = "learned"          # 'learned', a genes × features table, or a run folder
    allow_learned_fallback: bool = False
    split: str = "pairs"
    seed: int = 0
    test_fraction: float = 0.2
    val_fraction: float = 0.1
    pool: str = "sum"
    hidden: tuple[int, ...] = (32, 32)
    embed_dim: int = 16
    interaction_head: bool = True
    wild_type_difference: bool = False
    dropout: float = 0.0
    lr: float = 3e-3
    weight_decay: float = 0.0          # 1e-4 made seeds collapse to no interaction
    batch_size: int = 128
    max_epochs: int = 300
    patience: int = 25
    clip_grad_norm: float = 1.0        # on by default: the wild-type form diverged without it

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        checks = [
            (self.split in ph.SPLITS, f"split must be one of {', '.join(ph.SPLITS)}"),
            (self.pool in POOLS, f"pool must be one of {', '.join(POOLS)}"),
            (len(self.hidden) > 0 and min(self.hidden) > 0, "hidden widths must be positive"),
            (self.embed_dim >= 0, "embed_dim must be ≥ 0"),
            (0 < self.test_fraction < 1, "test_fraction must be in (0, 1)"),
            (0 <= self.val_fraction < 1, "val_fraction must be in [0, 1)"),
            (0 <= self.dropout < 1, "dropout must be in [0, 1)"),
            (self.lr > 0 and self.weight_decay >= 0, "lr must be > 0 and weight_decay ≥ 0"),
            (self.batch_size > 0 and self.max_epochs > 0 and self.patience > 0,
             "batch_size, max_epochs and patience must be positive"),
            (self.clip_grad_norm >= 0, "clip_grad_norm must be ≥ 0 (0 turns it off)"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message + ".")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PhenotypeSettings:
        """Settings from a dict (e.g. a run's config), ignoring unknown keys."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


def _gene_inputs(table: PhenotypeTable, settings: PhenotypeSettings
                 ) -> tuple[np.ndarray | None, int, str, list[str]]:
    """Fixed feature matrix (or None), learned width, source label, genes without features."""
    features = load_features(settings.features)
    if features is None:
        if settings.split == "genes":
            raise ConfigError("The genes split holds out genes the model never saw; a learned "
                              "embedding knows nothing of them. Give --features a table or run.")
        if settings.embed_dim == 0:
            raise ConfigError("Learned features need embed_dim > 0.")
        return None, settings.embed_dim, "learned", []
    matrix, missing = features.lookup(table.genes)
    if missing and not settings.allow_learned_fallback:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10
                                           else "")
        raise DataError(f"{len(missing)} of {len(table.genes)} genes have no features in "
                        f"{features.source}: {shown}. Add them, or allow the learned fallback.")
    learned = settings.embed_dim if missing else 0
    return matrix, learned, features.source, missing


def _tensors(table: PhenotypeTable, rows: np.ndarray, index: dict[str, int]) -> tuple:
    genes, mask = pad_sets([tuple(index[g] for g in table.sets[i]) for i in rows])
    return genes, mask, torch.as_tensor(table.values[rows], dtype=torch.float32)


def _build(table: PhenotypeTable, settings: PhenotypeSettings, split: ph.SetSplit,
           inputs: tuple[np.ndarray | None, int, str, list[str]]
           ) -> tuple[DeepSet, dict[str, Any]]:
    matrix, learned, source, missing = inputs
    torch.manual_seed(settings.seed)
    module = DeepSet(len(table.genes), 0 if matrix is None else matrix.shape[1], learned,
                     hidden=settings.hidden, pool=settings.pool,
                     interaction_head=settings.interaction_head,
                     wild_type_difference=settings.wild_type_difference,
                     dropout=settings.dropout)
    if matrix is not None:
        module.features.copy_(torch.as_tensor(matrix))
    singles = ph.singles_of(table.sets, table.values, split.train)
    for i, g in enumerate(table.genes):
        if g in singles:
            module.single_phenotype[i] = singles[g]
    return module, {"source": source, "missing": missing, "n_training_singles": len(singles)}


def _heldout_table(table: PhenotypeTable, split: ph.SetSplit, predicted: np.ndarray
                   ) -> pd.DataFrame:
    rows, train = split.test, split.train
    query = [table.sets[i] for i in rows]
    reference = ph.additive_expectation(query, table.singles())
    reference[[len(s) < 2 for s in query]] = np.nan
    return pd.DataFrame({
        "genes": [join_set(s) for s in query], "n_genes": [len(s) for s in query],
        "measured": table.values[rows], "predicted": predicted,
        "additive_measured": reference,
        "mean": ph.mean_baseline(table.sets, table.values, train, query),
        "additive": ph.additive_baseline(table.sets, table.values, train, query),
        "additive_linear": ph.linear_additive_baseline(table.sets, table.values, train, query),
        "mf": ph.mf_baseline(table.sets, table.values, train, query, seed=0)})


def _scores(held: pd.DataFrame) -> dict[str, Any]:
    measured, reference = held["measured"].to_numpy(), held["additive_measured"].to_numpy()
    out = {}
    for name in ("predicted", *BASELINES):
        label = "model" if name == "predicted" else name
        scores = ph.score_predictions(measured, held[name].to_numpy(), reference)
        out[label] = {k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                      for k, v in scores.items()}   # NaN is not JSON
    return out


def train(table: PhenotypeTable, *, settings: PhenotypeSettings, out_dir: str | Path,
          progress: Progress | None = None, cancel: threading.Event | None = None
          ) -> dict[str, Any]:
    """Train a DeepSet on ``table`` and write the run folder ``out_dir``.

    Parameters
    ----------
    table
        Phenotype table (:func:`core.data.phenotypes.read_phenotypes`).
    settings
        :class:`PhenotypeSettings`.
    out_dir
        Run folder to write (created).
    progress, cancel
        Optional live progress and a cancel flag (the page's background job).

    Returns
    -------
    dict
        The metrics written to ``metrics.json``: ``scores`` per method (``model`` and each of
        :data:`BASELINES`) with ``pearson``, ``spearman``, ``interaction_pearson`` and
        ``interaction_spearman`` (NaN written as null).
    """
    inputs = _gene_inputs(table, settings)       # a missing-features error comes first
    split = ph.split_sets(table.sets, settings.split, seed=settings.seed,
                          test_fraction=settings.test_fraction, val_fraction=settings.val_fraction)
    if len(split.train) < 2 or len(split.test) < 2:
        raise DataError(f"The {settings.split} split leaves fewer than 2 sets to train or test "
                        f"on ({len(table)} rows); use a larger table or another split.")
    module, info = _build(table, settings, split, inputs)
    index = {g: i for i, g in enumerate(table.genes)}
    val = _tensors(table, split.val, index) if len(split.val) else None
    fit = fit_sets(module, _tensors(table, split.train, index), val, lr=settings.lr,
                   weight_decay=settings.weight_decay, batch_size=settings.batch_size,
                   max_epochs=settings.max_epochs, patience=settings.patience,
                   clip_grad_norm=settings.clip_grad_norm, seed=settings.seed,
                   progress=progress, cancel=cancel)
    if fit.n_epochs_run == 0:
        raise ConfigError("Training was cancelled before the first epoch ended.")
    if progress is not None:
        progress.note("scoring the held-out sets and the baselines")
    genes, mask, _ = _tensors(table, split.test, index)
    with torch.no_grad():
        predicted = module(genes, mask)["prediction"].numpy().astype(np.float64)
    held = _heldout_table(table, split, predicted)
    metrics = {"scores": _scores(held), "n_train": len(split.train), "n_val": len(split.val),
               "n_test": len(split.test), "held_out_genes": list(split.held_out_genes),
               "best_epoch": fit.best_epoch, "n_epochs_run": fit.n_epochs_run,
               "stopped": fit.stopped, "train_seconds": round(fit.train_seconds, 2),
               "genes_without_features": info["missing"]}
    config = {"model": MODEL, "module": module.init_kwargs, "settings": asdict(settings),
              "seed": settings.seed, "genes": table.genes, "features_source": info["source"],
              "data": {"name": table.name, "value_column": table.value_column,
                       "n_sets": len(table), "n_genes": len(table.genes)}}
    part = np.full(len(table), "train", dtype=object)
    part[split.val], part[split.test] = "val", "test"
    sets = table.frame().assign(split=part)
    save_run(out_dir, config=config, metrics=metrics, history=fit.history, module=module,
             tables={"heldout": held, "sets": sets})
    return metrics


def load_module(run: Run) -> DeepSet:
    """The run's DeepSet with its weights, features and training singles (CPU, eval)."""
    if run.model != MODEL:
        raise DataError(f"Run {run.id} is a '{run.model}' run, not a DeepSet phenotype run.")
    return run.load_module({MODEL: DeepSet})


def predict(run_dir: str | Path | Run, sets: list[str] | list[tuple[str, ...]]) -> pd.DataFrame:
    """Predict sets (``'A+B'`` strings or tuples) with a trained run.

    Returns
    -------
    DataFrame
        ``genes``, ``predicted``, ``additive`` (Σ of measured training singles; NaN when one is
        unknown) and ``interaction`` (predicted − additive, for sets of 2+ genes).

    Raises
    ------
    DataError
        Empty sets, or genes the run has no features for (named).
    """
    run = run_dir if isinstance(run_dir, Run) else load_run(run_dir)
    module = load_module(run)
    index = {g: i for i, g in enumerate(run.config["genes"])}
    parsed = []
    for row, s in enumerate(sets, start=1):
        try:
            parsed.append(s if isinstance(s, tuple) else parse_set(s))
        except DataError as exc:
            raise DataError(f"Set {row}: {exc}") from None
    if not parsed:
        raise DataError("No sets to predict; give a table with a 'genes' column of A+B sets.")
    unknown = sorted({g for s in parsed for g in s if g not in index})
    if unknown:
        shown = ", ".join(unknown[:10]) + (" …" if len(unknown) > 10 else "")
        raise DataError(f"Run {run.id} knows nothing of {len(unknown)} gene(s): {shown}. It can "
                        "predict sets of the genes it was trained with.")
    genes, mask = pad_sets([tuple(index[g] for g in s) for s in parsed])
    with torch.no_grad():
        predicted = module(genes, mask)["prediction"].numpy().astype(np.float64)
    singles = {g: float(v) for g, v in zip(run.config["genes"], module.single_phenotype.numpy())
               if np.isfinite(v)}
    additive = ph.additive_expectation(parsed, singles)
    interaction = np.where([len(s) > 1 for s in parsed], predicted - additive, np.nan)
    return pd.DataFrame({"genes": [join_set(s) for s in parsed], "predicted": predicted,
                         "additive": additive, "interaction": interaction})


def predict_all_pairs(run: Run) -> pd.DataFrame:
    """:func:`predict` for every unordered pair of the run's genes."""
    genes = run.config["genes"]
    pairs = [(a, b) for i, a in enumerate(genes) for b in genes[i + 1:]]
    return predict(run, pairs) if pairs else pd.DataFrame(
        columns=["genes", "predicted", "additive", "interaction"])
