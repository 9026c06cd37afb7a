"""Recipe: phenotype of a set of perturbed genes with a DeepSet (DESIGN §6).

:func:`train_phenotype` splits the table without leakage, fits the DeepSet with the shared
trainer (:func:`core.training.trainer.fit`: Adam, gradient-norm clipping, early stopping on the
validation part), scores it on the held-out part beside the baselines of
:mod:`core.analysis.phenotype` and writes a run folder: ``config.json`` (``"model":
"deepset"``, the settings, the train config, the seed, the genes), ``metrics.json``,
``history.csv``, ``model.pt``, ``heldout.csv`` (test sets, model and baselines) and
``sets.csv`` (every set with its part: train, val or test). :func:`predict` reads it back.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from core.analysis import phenotype as ph
from core.data.phenotypes import (
    PhenotypeTable,
    join_set,
    pad_sets,
    parse_set,
    set_arrays,
)
from core.errors import ConfigError, DataError
from core.models.deepset import POOLS, DeepSet
from core.recipes.phenotype_features import gene_features
from core.runs import Run, load_run, new_run_dir, run_config, save_run
from core.training.progress import Progress
from core.training.settings import Settings, between, one_of
from core.training.trainer import TrainConfig, fit

MODEL = "deepset"
#: Baselines scored beside the model, in the order tables show them.
BASELINES = ("mean", "additive", "additive_linear", "ridge", "mf")


#: Defaults from ``benchmarks/phenotype_bench.py`` (results/phenotype.json) on Norman 2019
#: pairs: with weight decay 1e-4 (or 1e-3) and width 64 the held-out interaction r swung from
#: −0.12 to 0.87 across seeds 0–2 (early stopping at epochs 2–9); width 32, embedding 16 and
#: no weight decay gave 0.923 / 0.934 / 0.936 (matrix factorisation 0.822 / 0.835 / 0.864).
@dataclass(frozen=True)
class PhenotypeSettings(Settings):
    """Settings of the DeepSet phenotype recipe: gene features, the split, the module."""

    TITLE = "the DeepSet phenotype model"

    #: 'learned' (an embedding per gene), a genes × features CSV/TSV, or a run folder.
    features: str = "learned"
    #: Genes without features get a learned embedding instead of an error.
    allow_learned_fallback: bool = False
    #: Held-out pairs whose genes were measured alone: the question "which combinations?".
    split: str = one_of("pairs", ph.SPLITS)
    #: Fraction of rows (of genes, for the genes split) held out for testing.
    test_fraction: float = between(0.2, 0.01, 0.9)
    #: Sum pooling: held-out-pairs interaction r 0.924 ± 0.011 vs 0.893 ± 0.012 (mean) and
    #: 0.893 ± 0.012 (attention), 5 seeds (benchmarks/results/phenotype.json).
    pool: str = one_of("sum", POOLS)
    #: φ's widths (ρ mirrors them); 32-32 beat 64-64 (see above).
    hidden: tuple[int, ...] = (32, 32)
    #: Learned embedding width (with 'learned' features, or as the fallback); 16 beat 32.
    embed_dim: int = between(16, 0, 1024)
    #: Predict the interaction on top of the additive expectation (0.924 ± 0.011 vs
    #: 0.916 ± 0.018 without).
    interaction_head: bool = True
    #: Subtract a learned wild-type embedding from the pooled vector (the reference report).
    wild_type_difference: bool = False
    #: Dropout 0.1 made one seed in three collapse (interaction r −0.24).
    dropout: float = between(0.0, 0.0, 1.0, high_open=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if not self.hidden or min(self.hidden) < 1:
            raise ConfigError(f"hidden must be one or more positive widths; got {self.hidden}.")


#: The defaults as a dict (what the page and the benchmark read).
PHENOTYPE_DEFAULTS: dict[str, Any] = PhenotypeSettings().to_dict()
#: Adam lr 3e-3 without weight decay (1e-4 made seeds collapse to no interaction), batch 128,
#: up to 300 epochs with patience 25 on 10% validation sets (best epochs 97–107 on the pairs
#: split), gradient-norm clipping at 1 (on by default: the reference report's wild-type form was
#: unstable without it; on norman_gi the norm stays below 1, so the wild-type form gave the
#: same interaction r 0.905 ± 0.019 with and without it, 5 seeds).
PHENOTYPE_TRAIN_DEFAULTS = TrainConfig(epochs=300, batch_size=128, lr=3e-3, weight_decay=0.0,
                                       val_fraction=0.1, patience=25, grad_clip=1.0)


def _gene_inputs(table: PhenotypeTable, settings: PhenotypeSettings
                 ) -> tuple[np.ndarray | None, int, str, list[str]]:
    """Fixed feature matrix (or None), learned width, source label, genes without features."""
    features = gene_features(settings.features)
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


def check_features(table: PhenotypeTable, settings: PhenotypeSettings
                   ) -> tuple[str, list[str]]:
    """The feature source and the genes without features, checked as training will check them
    (so a page can say what is wrong before it starts a job).

    Raises
    ------
    ConfigError, DataError
        Learned features with the genes split; genes without features when the learned
        fallback is not allowed (the message names them).
    """
    _, _, source, missing = _gene_inputs(table, settings)
    return source, missing


def _build(table: PhenotypeTable, settings: PhenotypeSettings, split: ph.SetSplit,
           inputs: tuple[np.ndarray | None, int, str, list[str]], seed: int
           ) -> tuple[DeepSet, dict[str, Any]]:
    matrix, learned, source, missing = inputs
    torch.manual_seed(seed)             # the initial weights too, so a seed reproduces a run
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


def _heldout_table(table: PhenotypeTable, split: ph.SetSplit, predicted: np.ndarray,
                   features: np.ndarray | None) -> pd.DataFrame:
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
        "ridge": ph.ridge_baseline(table.sets, table.values, train, query, genes=table.genes,
                                   features=features),
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


def _split(table: PhenotypeTable, settings: PhenotypeSettings, train: TrainConfig
           ) -> ph.SetSplit:
    split = ph.split_sets(table.sets, settings.split, seed=train.seed,
                          test_fraction=settings.test_fraction, val_fraction=train.val_fraction)
    if len(split.train) < 2 or len(split.test) < 2:
        raise DataError(f"The {settings.split} split leaves fewer than 2 sets to train or test "
                        f"on ({len(table)} rows); use a larger table or another split.")
    return split


def _fit(module: DeepSet, table: PhenotypeTable, split: ph.SetSplit, train: TrainConfig,
         progress: Progress | None, cancel: threading.Event | None) -> Any:
    """The shared trainer on the train + validation rows only: test sets never reach it."""
    index = {g: i for i, g in enumerate(table.genes)}
    rows = np.concatenate([split.train, split.val])
    positions = np.arange(len(rows))
    result = fit(module, set_arrays(table, rows, index), config=train, progress=progress,
                 cancel=cancel, split=(positions[:len(split.train)],
                                       positions[len(split.train):]))
    if result.n_epochs_run == 0:
        raise ConfigError(result.message or "Training stopped before the first epoch ended.")
    module.cpu().eval()
    return result


def _predict_rows(module: DeepSet, table: PhenotypeTable, rows: np.ndarray) -> np.ndarray:
    arrays = set_arrays(table, rows, {g: i for i, g in enumerate(table.genes)})
    with torch.no_grad():
        out = module(torch.as_tensor(arrays["genes"]), torch.as_tensor(arrays["mask"]))
    return out["prediction"].numpy().astype(np.float64)


def train_phenotype(table: PhenotypeTable, *, settings: PhenotypeSettings | None = None,
                    train: TrainConfig | None = None, run_dir: str | Path | None = None,
                    runs_root: str | Path | None = None, progress: Progress | None = None,
                    cancel: threading.Event | None = None) -> Run:
    """Train a DeepSet on ``table``, score it beside the baselines and save a run folder.

    Parameters
    ----------
    table
        Phenotype table (:func:`core.data.phenotypes.read_phenotypes`).
    settings
        :class:`PhenotypeSettings` (default: the defaults).
    train
        Optimisation settings (default :data:`PHENOTYPE_TRAIN_DEFAULTS`); ``seed`` also seeds
        the split and ``val_fraction`` sizes the early-stopping part.
    run_dir, runs_root
        Folder to write, or a new folder under ``runs_root`` (default ``$SCVAE_RUNS_DIR``).
    progress, cancel
        Optional live progress and a cancel flag (the page's background job).

    Returns
    -------
    Run
        Its ``metrics['scores']`` hold, per method (``model`` and each of :data:`BASELINES`),
        ``pearson``, ``spearman``, ``interaction_pearson`` and ``interaction_spearman``.
    """
    settings = settings or PhenotypeSettings()
    train = train or replace(PHENOTYPE_TRAIN_DEFAULTS)
    inputs = _gene_inputs(table, settings)       # a missing-features error comes first
    split = _split(table, settings, train)
    module, info = _build(table, settings, split, inputs, train.seed)
    result = _fit(module, table, split, train, progress, cancel)
    if progress is not None:
        progress.note("scoring the held-out sets and the baselines")
    held = _heldout_table(table, split, _predict_rows(module, table, split.test), inputs[0])
    metrics = {"scores": _scores(held), "n_train": len(split.train), "n_val": len(split.val),
               "n_test": len(split.test), "held_out_genes": list(split.held_out_genes),
               "best_epoch": result.best_epoch, "n_epochs_run": result.n_epochs_run,
               "stopped": result.stopped, "message": result.message,
               "train_seconds": round(result.train_seconds, 2), "device": result.device,
               "genes_without_features": info["missing"]}
    config = run_config(MODEL, table.to_anndata(), dataset=table.name,
                        module_kwargs=module.init_kwargs, settings=settings.to_dict(),
                        train=train, genes=table.genes, features_source=info["source"],
                        data={"value_column": table.value_column,
                              "fingerprint": table.fingerprint()})
    part = np.full(len(table), "train", dtype=object)
    part[split.val], part[split.test] = "val", "test"
    path = Path(run_dir) if run_dir else new_run_dir(MODEL, table.name, runs_root)
    save_run(path, config=config, metrics=metrics, history=result.history, module=module,
             tables={"heldout": held, "sets": table.frame().assign(split=part)})
    return load_run(path)


def load_module(run: Run) -> DeepSet:
    """The run's DeepSet with its weights, features and training singles (CPU, eval)."""
    if run.model != MODEL:
        raise DataError(f"Run {run.id} is a '{run.model}' run, not a DeepSet phenotype run.")
    return run.load_module()      # core.models.registry: "deepset" → DeepSet


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
        out = module(torch.as_tensor(genes), torch.as_tensor(mask))
    predicted = out["prediction"].numpy().astype(np.float64)
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


def interaction_ranking(run: Run) -> pd.DataFrame:
    """Every pair of the run's genes ranked by predicted interaction, with what was measured
    (:func:`core.analysis.phenotype.rank_interactions`)."""
    return ph.rank_interactions(predict_all_pairs(run), run.table("sets"),
                                run.config["data"]["value_column"])
