"""The benchmark recipe: several embedding methods on the same cells, scored with scIB metrics
(:mod:`core.analysis.benchmark`) over several seeds, mean ± sd.

Methods (:data:`METHODS`): ``pca``; ``harmony`` (harmonypy on the same PCA, with a batch
column); ``betavae_gaussian`` and ``betavae_nb`` (this product's β-VAE, its recipe defaults,
the batch column as covariate); ``betavae_harmony`` (Harmony run on the recommended β-VAE's
latent instead of on PCA, with a batch column; it reuses that β-VAE's latent of the same seed
when the run trained it); ``tfvae`` (the TF-VAE's μ); ``scvi`` (scvi-tools' SCVI, only
when scvi-tools is installed: an optional extra); and ``obsm:<key>`` (an embedding the user
brings in ``adata.obsm``). A method that cannot run on the data (NB without counts, Harmony
without a batch, SCVI not installed) is skipped with the reason, never an error.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.analysis.benchmark import metric_columns, score_embeddings, summarize
from core.analysis.embeddings import pca
from core.errors import ConfigError, DataError, ScvaeError
from core.training.inputs import counts_matrix, model_input
from core.training.progress import Progress
from core.training.settings import Settings, between, one_of

#: Every built-in method, in table order; ``obsm:<key>`` adds a user's embedding.
METHODS = ("pca", "harmony", "betavae_gaussian", "betavae_nb", "betavae_harmony", "tfvae",
           "scvi")
METHOD_TITLES = {"pca": "PCA", "harmony": "Harmony (PCA)", "betavae_gaussian": "β-VAE Gaussian",
                 "betavae_nb": "β-VAE NB", "betavae_harmony": "Harmony (β-VAE latent)",
                 "tfvae": "TF-VAE μ", "scvi": "scvi-tools SCVI"}
#: Methods that need a batch column (skipped without one).
BATCH_METHODS = ("harmony", "betavae_harmony")
DEVICES = ("auto", "cpu", "cuda", "mps")


def default_methods() -> tuple[str, ...]:
    """:data:`METHODS` without ``scvi`` when scvi-tools is not installed."""
    have_scvi = importlib.util.find_spec("scvi") is not None
    return tuple(m for m in METHODS if m != "scvi" or have_scvi)


@dataclass(frozen=True)
class BenchmarkSettings(Settings):
    """Settings of one benchmark run.

    ``epochs`` caps every trained method (β-VAE, SCVI; the TF-VAE's phases are scaled so
    their total is about ``epochs``); 100 is the β-VAE default (early stopping usually ends
    sooner). ``n_latent`` is the dimension of PCA, Harmony, the β-VAE and SCVI (10: the β-VAE
    default; the TF-VAE's μ has one unit per TF).
    """

    TITLE = "the benchmark"

    methods: tuple[str, ...] = field(default_factory=default_methods)
    seeds: int = between(3, 1, 20)
    epochs: int = between(100, 1, 5000)
    n_latent: int = between(10, 2, 256)
    device: str = one_of("auto", DEVICES)

    def __post_init__(self) -> None:
        super().__post_init__()
        bad = [m for m in self.methods if m not in METHODS and not str(m).startswith("obsm:")]
        if bad or not self.methods:
            raise ConfigError(f"Unknown method(s) {', '.join(map(repr, bad)) or '(none)'}; "
                              f"choose from {', '.join(METHODS)} or obsm:<key>.")


@dataclass
class BenchmarkResult:
    """What :func:`run_benchmark` returns (and :func:`save_benchmark` writes).

    ``per_seed``: one row per method × seed (``method``, ``seed``, metrics, ``seconds``);
    ``table``: mean and ``_sd`` per method; ``skipped``: method → why it did not run.
    """

    per_seed: pd.DataFrame
    table: pd.DataFrame
    skipped: dict[str, str]
    info: dict[str, Any]


@dataclass
class _Context:
    adata: Any
    dataset: str
    batch_key: str | None
    settings: BenchmarkSettings
    runs_root: Path | None
    cancel: threading.Event | None
    x: Any = None
    pcs: np.ndarray | None = None
    latents: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)


def _pca(ctx: _Context, seed: int) -> np.ndarray:
    if ctx.pcs is None:  # deterministic up to sign: computed once, shared with Harmony
        ctx.pcs = pca(ctx.x, ctx.settings.n_latent)
    return ctx.pcs


def _harmony(ctx: _Context, seed: int) -> np.ndarray:
    return harmony_correct(_pca(ctx, seed), ctx.adata.obs[ctx.batch_key], seed=seed)


def harmony_correct(embedding: np.ndarray, batch: Any, *, seed: int = 0) -> np.ndarray:
    """Harmony (``harmonypy``) on any cells × dims embedding, ``batch`` one value per cell.

    Returns the corrected embedding, cells × dims, float32.
    """
    import harmonypy

    meta = pd.DataFrame({"batch": np.asarray(batch).astype(str)})
    out = harmonypy.run_harmony(np.asarray(embedding, dtype=np.float64), meta, ["batch"],
                                random_state=seed, verbose=False)
    z = np.asarray(out.Z_corr)
    return (z.T if z.shape[0] != len(meta) else z).astype(np.float32)


def _betavae_harmony(ctx: _Context, seed: int) -> np.ndarray:
    method = recommended_betavae(ctx.adata)
    latent = ctx.latents.pop((method, seed), None)  # used once: do not keep it
    if latent is None:
        latent = _runner(method)(ctx, seed)
    return harmony_correct(latent, ctx.adata.obs[ctx.batch_key], seed=seed)


def _train_config(ctx: _Context, seed: int, base: Any) -> Any:
    return replace(base, epochs=ctx.settings.epochs, seed=seed, device=ctx.settings.device)


def _betavae(likelihood: str) -> Callable[[_Context, int], np.ndarray]:
    def run(ctx: _Context, seed: int) -> np.ndarray:
        from core.recipes.betavae import BETAVAE_TRAIN_DEFAULTS, train_betavae

        if likelihood != "gaussian":
            _require_counts(ctx.adata)
        trained = train_betavae(ctx.adata, dataset=ctx.dataset, batch_key=ctx.batch_key,
                                model={"likelihood": likelihood,
                                       "n_latent": ctx.settings.n_latent},
                                train=_train_config(ctx, seed, BETAVAE_TRAIN_DEFAULTS),
                                runs_root=ctx.runs_root, cancel=ctx.cancel)
        if "betavae_harmony" in ctx.settings.methods:  # reused by _betavae_harmony
            ctx.latents[(f"betavae_{likelihood}", seed)] = trained.latent
        return trained.latent
    return run


def _tfvae(ctx: _Context, seed: int) -> np.ndarray:
    from core.recipes.tfvae import TFVAE_TRAIN_DEFAULTS, TFVAESettings, train_tfvae

    base = TFVAESettings()
    scale = ctx.settings.epochs / max(1, base.total_epochs)
    phases = {k: max(1, round(getattr(base, k) * scale)) for k in (
        "epochs_encoder", "epochs_decoder", "epochs_masked", "epochs_masked_fine", "epochs_vae")}
    trained = train_tfvae(ctx.adata, dataset=ctx.dataset, model=phases,
                          train=_train_config(ctx, seed, TFVAE_TRAIN_DEFAULTS),
                          runs_root=ctx.runs_root, cancel=ctx.cancel)
    return trained.latent


def _scvi(ctx: _Context, seed: int) -> np.ndarray:
    if importlib.util.find_spec("scvi") is None:
        raise _Skip("scvi-tools is not installed (optional: pip install scvi-tools)")
    import anndata
    import scvi

    counts = _require_counts(ctx.adata)
    ad = anndata.AnnData(X=counts, obs=ctx.adata.obs[[ctx.batch_key]].copy()
                         if ctx.batch_key else None)
    scvi.settings.seed = seed
    scvi.model.SCVI.setup_anndata(ad, batch_key=ctx.batch_key)
    model = scvi.model.SCVI(ad, n_latent=ctx.settings.n_latent)
    device = ctx.settings.device
    accelerator = "cpu" if device == "cpu" else ("gpu" if device == "cuda" else "auto")
    model.train(max_epochs=ctx.settings.epochs, accelerator=accelerator,
                early_stopping=True, enable_progress_bar=False)
    return np.asarray(model.get_latent_representation(), dtype=np.float32)


def _obsm(key: str) -> Callable[[_Context, int], np.ndarray]:
    def run(ctx: _Context, seed: int) -> np.ndarray:
        return embedding_from_obsm(ctx.adata, key)
    return run


class _Skip(Exception):
    """A method that does not apply to this data (the message says why)."""


def _require_counts(adata: Any) -> Any:
    try:
        return counts_matrix(adata)
    except DataError:
        raise _Skip("needs raw counts (layers['counts'] or X)") from None


def embedding_from_obsm(adata: Any, key: str) -> np.ndarray:
    """``adata.obsm[key]`` as a dense float32 cells × dims array, checked.

    Raises
    ------
    ConfigError
        When the key is missing (the message lists the keys there are) or the array is not a
        finite 2-D cells × dims matrix.
    """
    if key not in adata.obsm:
        have = ", ".join(map(str, adata.obsm.keys())) or "none"
        raise ConfigError(f"obsm has no '{key}'; keys there: {have}.")
    arr = adata.obsm[key]
    arr = arr.to_numpy() if isinstance(arr, pd.DataFrame) else arr
    arr = arr.toarray() if hasattr(arr, "toarray") else np.asarray(arr)
    if arr.ndim != 2 or arr.shape[0] != adata.n_obs or arr.shape[1] < 1:
        raise ConfigError(f"obsm['{key}'] must be cells × dims; got shape {arr.shape}.")
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise ConfigError(f"obsm['{key}'] has NaN or Inf values; fill or drop those cells.")
    return arr


def _runner(method: str) -> Callable[[_Context, int], np.ndarray]:
    if method.startswith("obsm:"):
        return _obsm(method.split(":", 1)[1])
    return {"pca": _pca, "harmony": _harmony, "betavae_gaussian": _betavae("gaussian"),
            "betavae_nb": _betavae("nb"), "betavae_harmony": _betavae_harmony, "tfvae": _tfvae,
            "scvi": _scvi}[method]


def _check_columns(adata: Any, label_key: str, batch_key: str | None) -> None:
    for what, key in (("label", label_key), ("batch", batch_key)):
        if key and key not in adata.obs:
            raise ConfigError(f"The {what} column '{key}' is not in obs; columns are: "
                              f"{', '.join(map(str, adata.obs.columns))}.")
    if batch_key and adata.obs[batch_key].nunique() < 2:
        raise ConfigError(f"The batch column '{batch_key}' has a single value; give a column "
                          "with two or more batches, or none.")


def _embed(method: str, ctx: _Context, seed: int, skipped: dict[str, str]
           ) -> tuple[np.ndarray | None, float]:
    started = time.perf_counter()
    if method in BATCH_METHODS and not ctx.batch_key:
        skipped[method] = "needs a batch column"
        return None, 0.0
    try:
        emb = _runner(method)(ctx, seed)
    except _Skip as why:
        skipped[method] = str(why)
        return None, 0.0
    except ScvaeError as exc:  # e.g. no TFs among the genes: this method cannot run here
        skipped[method] = str(exc)
        return None, 0.0
    return emb, time.perf_counter() - started


def run_benchmark(adata: Any, *, label_key: str, batch_key: str | None = None,
                  dataset: str = "data", settings: BenchmarkSettings | None = None,
                  runs_root: str | Path | None = None, progress: Progress | None = None,
                  cancel: threading.Event | None = None) -> BenchmarkResult:
    """Embed the same cells with every method and seed, and score each with scIB metrics.

    Parameters
    ----------
    adata
        Preprocessed AnnData (:func:`core.data.preprocess.preprocess`); X is what PCA and the
        Gaussian models read, raw counts (``layers['counts']``) what NB and SCVI read.
    label_key, batch_key
        obs columns of cell types and (optional) batches.
    dataset
        Name recorded in the trained runs and the result.
    settings
        Methods, seeds, epochs, latent size, device (default :class:`BenchmarkSettings`).
    runs_root
        Where the trained models' run folders go (default: the runs folder).
    progress, cancel
        From a background job: one step per method × seed; cancel stops after the current one.

    Returns
    -------
    BenchmarkResult
    """
    settings = settings or BenchmarkSettings()
    _check_columns(adata, label_key, batch_key)
    labels = adata.obs[label_key].astype(str).to_numpy()
    batch = adata.obs[batch_key].astype(str).to_numpy() if batch_key else None
    ctx = _Context(adata, dataset, batch_key, settings, Path(runs_root) if runs_root else None,
                   cancel, x=model_input(adata))
    steps = [(m, s) for m in settings.methods for s in range(settings.seeds)]
    if progress is not None:
        progress.set_phase("benchmark", len(steps), "embedding and scoring")
    rows, skipped = [], {}
    for i, (method, seed) in enumerate(steps):
        if cancel is not None and cancel.is_set():
            break
        if method not in skipped:
            if progress is not None:
                progress.note(f"{METHOD_TITLES.get(method, method)}, seed {seed}")
            emb, seconds = _embed(method, ctx, seed, skipped)
            if emb is not None:
                scores = score_embeddings({method: emb}, labels, batch, seed=seed)
                rows.append({"method": method, "seed": seed, **scores.iloc[0].to_dict(),
                             "seconds": seconds})
        if progress is not None:
            progress.update(i + 1, {})
    cols = ["method", "seed", *metric_columns(batch is not None), "seconds"]
    per_seed = pd.DataFrame(rows, columns=cols)
    info = {"dataset": dataset, "n_obs": int(adata.n_obs), "n_vars": int(adata.n_vars),
            "label_key": label_key, "batch_key": batch_key, "settings": settings.to_dict(),
            "x_kind": adata.uns.get("preprocess", {}).get("x_kind")}
    return BenchmarkResult(per_seed=per_seed, table=summarize(per_seed) if rows else
                           pd.DataFrame(), skipped=skipped, info=info)


def recommended_betavae(adata: Any) -> str:
    """The β-VAE the product recommends, chosen by what X held before preprocessing.

    ``"betavae_nb"`` when X held raw counts, else ``"betavae_gaussian"`` (also when raw counts
    sit only in a layer beside log-normalised X). Panel evidence
    (benchmarks/results/panel_h100.json, 3 seeds, default epochs): on counts X NB beat Gaussian
    on bio conservation (zeisel_cortex 0.734 vs 0.681; with NB β 1.5, CPU: 0.728 vs 0.695,
    panel_nb15_cpu.json); on symphony_pbmc (log X, exact counts in
    a layer) the Gaussian β-VAE with the batch covariate beat NB on the scIB total (0.746 vs
    0.730) at about the same bio conservation (0.723 vs 0.719).
    """
    from core.data.validate import detect_x_kind

    kind = adata.uns.get("preprocess", {}).get("x_kind") or detect_x_kind(adata.X)
    return "betavae_nb" if kind == "counts" else "betavae_gaussian"


def scvi_model_embedding(model_dir: str | Path, adata: Any) -> np.ndarray:
    """The latent of a user's saved scvi-tools model (``model.save(dir)``) on ``adata``.

    Loading it unpickles the folder's objects, which can run code: call this only on a
    folder the server's owner trusts (the CLI, or a server path), never on an upload.
    """
    if importlib.util.find_spec("scvi") is None:
        raise ConfigError("Loading an scvi-tools model needs scvi-tools (pip install "
                          "scvi-tools); it is an optional extra.")
    import scvi

    path = Path(model_dir)
    if not (path / "model.pt").is_file():
        raise ConfigError(f"{path} is not an scvi-tools model folder (no model.pt in it).")
    ad = adata.copy()
    if "counts" in ad.layers:
        ad.X = ad.layers["counts"]
    model = scvi.model.SCVI.load(str(path), adata=ad)
    return np.asarray(model.get_latent_representation(), dtype=np.float32)


def save_benchmark(result: BenchmarkResult, out: str | Path) -> dict[str, Path]:
    """Write ``table.csv`` (mean and sd per method), ``per_seed.csv`` and ``table.json``
    (info, skipped methods, the table as records) into ``out``; returns the paths."""
    import json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"table": out / "table.csv", "per_seed": out / "per_seed.csv",
             "json": out / "table.json"}
    result.table.to_csv(paths["table"])
    result.per_seed.to_csv(paths["per_seed"], index=False)
    records = json.loads(result.table.reset_index().to_json(orient="records"))
    paths["json"].write_text(json.dumps({**result.info, "skipped": result.skipped,
                                         "table": records}, indent=2, default=str))
    return paths


def load_benchmark(folder: str | Path) -> BenchmarkResult:
    """Read back what :func:`save_benchmark` wrote (a ConfigError if it is not such a folder)."""
    import json

    folder = Path(folder)
    try:
        meta = json.loads((folder / "table.json").read_text())
        table = pd.read_csv(folder / "table.csv", index_col="method")
        per_seed = pd.read_csv(folder / "per_seed.csv")
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"{folder} is not a benchmark folder ({type(exc).__name__}).") from None
    skipped = meta.pop("skipped", {})
    meta.pop("table", None)
    return BenchmarkResult(per_seed=per_seed, table=table, skipped=skipped, info=meta)


def embedding_from_other(adata: Any, other: Any, key: str) -> np.ndarray:
    """``other.obsm[key]`` re-ordered to ``adata``'s cells (matched by obs name).

    Raises a ConfigError naming how many of ``adata``'s cells ``other`` lacks.
    """
    emb = embedding_from_obsm(other, key)
    pos = pd.Index(other.obs_names).get_indexer(adata.obs_names)
    if (pos < 0).any():
        raise ConfigError(f"{int((pos < 0).sum()):,} of the {adata.n_obs:,} loaded cells are "
                          f"not in the uploaded file (cells are matched by obs name); upload "
                          "an embedding of the same cells.")
    return emb[pos]
