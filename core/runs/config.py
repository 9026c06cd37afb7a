"""The run config (``config.json``): built here for every recipe, so every run has the same
keys."""

from __future__ import annotations

from typing import Any

from core.runs.fingerprint import data_fingerprint


def run_config(model: str, adata: Any, *, dataset: str, module_kwargs: dict[str, Any] | None,
               settings: dict[str, Any], train: Any, label_key: str | None = None,
               data: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """The ``config.json`` of a run.

    Parameters
    ----------
    model
        Model name (``betavae``, ``tfvae``, ``scgen``); picks the module class on load.
    adata
        The data trained on: its shape and fingerprint are recorded.
    dataset
        Dataset name.
    module_kwargs
        The module's constructor arguments (``module.init_kwargs``); None when the run holds
        several modules.
    settings
        The recipe's settings as a dict (``Settings.to_dict()``).
    train
        The :class:`~core.training.trainer.TrainConfig` used.
    label_key
        obs column the run was scored against.
    data
        Further keys of ``config['data']`` (e.g. ``batch_key``).
    extra
        Further top-level keys (e.g. ``tfs``, ``spec``).

    Returns
    -------
    dict
        ``model``, ``module``, ``settings``, ``train``, ``seed``, ``data`` and ``extra``;
        :func:`~core.runs.store.save_run` adds ``schema_version``.
    """
    return {
        "model": model, "module": module_kwargs, "settings": settings,
        "train": train.to_dict(), "seed": train.seed, **extra,
        "data": {"name": dataset, "fingerprint": data_fingerprint(adata), "n_obs": adata.n_obs,
                 "n_vars": adata.n_vars, "label_key": label_key, **(data or {})},
    }
