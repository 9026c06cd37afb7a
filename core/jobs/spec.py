"""The job spec: everything a worker process needs to train one run, as JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ConfigError, DataError
from core.training.checkpoint import CHECKPOINT_EVERY
from core.training.settings import Settings, between, one_of

#: Models a worker trains; each entry is (phases shown, trainer in :func:`execute`).
KINDS = ("betavae", "tfvae")
#: The spec as written into the run folder (what ``--resume`` reads back).
SPEC_FILE = "job.json"


@dataclass(frozen=True)
class JobSpec(Settings):
    """One training job.

    ``data`` is a bundled dataset name or a file path (``.h5ad``, 10x, CSV/TSV);
    ``preprocess`` overrides :class:`~core.data.preprocess.PreprocessConfig` (``None``: the
    file is already preprocessed, as the app writes an uploaded dataset). ``model`` overrides
    the recipe's settings (``BetaVAESettings`` / ``TFVAESettings``; a β-VAE's ``schedule``
    too), ``train`` the :class:`~core.training.trainer.TrainConfig` fields (its ``seed`` is
    ``seed``). ``owner`` is who may cancel, resume and delete it; ``label`` what lists show.
    """

    TITLE = "a job spec"

    kind: str = one_of("betavae", KINDS)
    data: str = ""
    dataset: str | None = None
    transpose: bool = False
    preprocess: dict[str, Any] | None = field(default_factory=dict)
    label_key: str | None = None
    batch_key: str | None = None
    model: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    seed: int = between(0, 0, 2**31 - 1)
    owner: str = ""
    label: str = ""
    checkpoint_every: int = between(CHECKPOINT_EVERY, 1, 100_000)

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("model", "train"):
            if not isinstance(getattr(self, key), dict):
                raise ConfigError(f"'{key}' of a job spec must be an object.")
        if self.preprocess is not None and not isinstance(self.preprocess, dict):
            raise ConfigError("'preprocess' of a job spec must be an object or null.")

    @property
    def title(self) -> str:
        """What lists show: the label, else model and data."""
        return self.label or f"{self.kind} on {self.dataset or Path(self.data).name}"

    @property
    def n_epochs(self) -> int:
        """Epochs the job trains (the sum of the phases for a TF-VAE)."""
        if self.kind == "tfvae":
            from core.recipes.tfvae import TFVAESettings
            return TFVAESettings.from_dict(self.model).total_epochs
        from core.recipes.betavae import BETAVAE_TRAIN_DEFAULTS
        return int(self.train.get("epochs", BETAVAE_TRAIN_DEFAULTS.epochs))

    def train_config(self):
        """The :class:`~core.training.trainer.TrainConfig` of the job (recipe defaults first)."""
        from dataclasses import fields, replace

        if self.kind == "tfvae":
            from core.recipes.tfvae import TFVAE_TRAIN_DEFAULTS as base
        else:
            from core.recipes.betavae import BETAVAE_TRAIN_DEFAULTS as base
        names = {f.name for f in fields(base)}
        unknown = sorted(set(self.train) - names)
        if unknown:
            raise ConfigError(f"Unknown training setting {', '.join(map(repr, unknown))}; "
                              f"valid: {', '.join(sorted(names))}.")
        config = replace(base, **{**self.train, "seed": int(self.seed)})
        config.validate()
        return config

    def check(self) -> JobSpec:
        """Validate the data and the model and training settings too (before queueing);
        returns self."""
        if not isinstance(self.data, str) or not self.data:
            raise ConfigError("a job spec needs 'data': a bundled dataset name or a file path.")
        self.train_config()
        if self.kind == "tfvae":
            from core.recipes.tfvae import TFVAESettings
            TFVAESettings.from_dict(self.model)
        else:
            from core.recipes.betavae import BetaVAESettings
            BetaVAESettings.for_likelihood(self.model.get("likelihood", "gaussian"), self.model)
        return self


def load_spec(source: str | Path | dict[str, Any]) -> JobSpec:
    """A spec from a JSON file, a run folder (its ``job.json``) or a dict, checked."""
    if isinstance(source, dict):
        return JobSpec.from_dict(source).check()
    path = Path(source)
    if path.is_dir():
        path = path / SPEC_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path} does not exist (a job spec is a JSON file; a run folder to "
                        f"resume holds one as {SPEC_FILE}).") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path.name} is not a JSON job spec ({str(exc)[:80]}).") from None
    if not isinstance(raw, dict):
        raise DataError(f"{path.name} should hold a JSON object, not {type(raw).__name__}.")
    return JobSpec.from_dict(raw).check()


def write_spec(spec: JobSpec, folder: Path) -> Path:
    """Write ``spec`` as ``folder/job.json``."""
    path = Path(folder) / SPEC_FILE
    path.write_text(json.dumps(spec.to_dict(), indent=2), encoding="utf-8")
    return path


def load_data(spec: JobSpec) -> tuple[Any, str]:
    """``(adata, dataset name)``: the spec's data read and preprocessed as the app does."""
    from core.data.cache import bundled_source, cached_preprocess
    from core.data.io import read
    from core.data.preprocess import PreprocessConfig
    from core.data.registry import DATASETS

    result = read(spec.data, transpose=spec.transpose)
    name = spec.dataset or result.name
    if spec.preprocess is None:
        return result.adata, name
    try:
        config = PreprocessConfig(**spec.preprocess)
    except TypeError as exc:
        raise ConfigError(f"'preprocess' of the job spec: {exc}.") from None
    source = bundled_source(spec.data) if spec.data in DATASETS else None
    return cached_preprocess(result.adata, config, source=source)[0], name


def phases(spec: JobSpec) -> list[str]:
    """Phase names the progress view shows for the job."""
    if spec.kind == "tfvae":
        from core.recipes.tfvae import phases_of
        return ["data", *phases_of(spec.model.get("mask_source", "learned"))]
    return ["data", "train", "metrics"]


def execute(spec: JobSpec, run_dir: Path, *, progress: Any = None, cancel: Any = None,
            resume: bool = False) -> Any:
    """Read the data and train the spec's model into ``run_dir``; returns the saved Run."""
    if progress is not None:
        progress.set_phase("data", 0, f"reading {spec.dataset or spec.data}")
    adata, name = load_data(spec)
    if spec.label_key and spec.label_key not in adata.obs:
        raise ConfigError(f"label key '{spec.label_key}' is not an obs column; columns are: "
                          f"{', '.join(map(str, adata.obs.columns))}.")
    train = spec.train_config()
    if spec.kind == "tfvae":
        from core.recipes.tfvae import train_tfvae
        return train_tfvae(adata, dataset=name, label_key=spec.label_key, model=spec.model,
                           train=train, run_dir=run_dir, progress=progress, cancel=cancel)
    from core.recipes.betavae import train_betavae
    return train_betavae(adata, dataset=name, label_key=spec.label_key, model=spec.model,
                         train=train, run_dir=run_dir, progress=progress, cancel=cancel,
                         batch_key=spec.batch_key, checkpoint_every=spec.checkpoint_every,
                         resume=resume)
