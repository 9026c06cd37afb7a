"""Settings dataclasses: one default per setting, unknown and out-of-range keys rejected."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from core.errors import ConfigError
from core.models.vae import DENOISING_INPUT_DROPOUT, BetaVAE
from core.recipes.betavae import BETAVAE_DEFAULTS, BetaVAESettings, model_defaults
from core.recipes.scgen import SCGEN_DEFAULTS, ScgenSettings
from core.recipes.tfvae import TFVAE_DEFAULTS, TFVAE_TRAIN_DEFAULTS, TFVAESettings


def test_unknown_key_names_it_and_the_valid_keys():
    with pytest.raises(ConfigError) as err:
        BetaVAESettings.from_dict({"hiden": [64]})
    msg = str(err.value)
    assert "'hiden'" in msg and "the β-VAE" in msg
    assert "valid settings: n_latent, hidden, batch_norm," in msg


@pytest.mark.parametrize("cls, key, value, text", [
    (BetaVAESettings, "input_dropout", 1.0, "input_dropout must be in [0, 1); got 1.0."),
    (BetaVAESettings, "n_latent", 0, "n_latent must be in [1, 4096]; got 0."),
    (BetaVAESettings, "likelihood", "poisson", "likelihood must be one of gaussian, nb, zinb"),
    (TFVAESettings, "mask_sparsity", 150, "mask_sparsity must be in [0, 100]; got 150."),
    (TFVAESettings, "mask_source", "guess", "mask_source must be one of learned, prior, both"),
    (ScgenSettings, "kl_weight", -1, "kl_weight must be in [0, inf); got -1."),
])
def test_out_of_range_names_the_range(cls, key, value, text):
    with pytest.raises(ConfigError, match=None) as err:
        cls.from_dict({key: value})
    assert text in str(err.value)


def test_settings_are_frozen_and_round_trip_through_a_run_config():
    s = BetaVAESettings.from_dict({"hidden": [64, 32], "n_latent": 4})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.n_latent = 5
    d = s.to_dict()
    assert d["hidden"] == [64, 32] and d["n_latent"] == 4
    assert BetaVAESettings.from_dict(d) == s          # an old run's dict loads back


def test_one_source_of_truth_for_defaults():
    assert BETAVAE_DEFAULTS == BetaVAESettings().to_dict()
    assert BETAVAE_DEFAULTS["input_dropout"] == DENOISING_INPUT_DROPOUT == 0.1
    assert BetaVAE(10).input_dropout == BETAVAE_DEFAULTS["input_dropout"]
    nb = model_defaults("nb")
    assert nb["hidden"] == [128] and nb["input_dropout"] == 0.0 and nb["likelihood"] == "nb"
    assert BetaVAESettings.for_likelihood("nb", {"hidden": [32]}).hidden == (32,)
    assert SCGEN_DEFAULTS == {"n_latent": 100, "hidden": [800, 800], "batch_norm": False,
                              "dropout": 0.2, "kl_weight": 5e-5}
    assert TFVAE_TRAIN_DEFAULTS.epochs == TFVAESettings().total_epochs == 150
    assert TFVAE_DEFAULTS["epochs_vae"] == 40 and TFVAE_DEFAULTS["mask_source"] == "prior"
    assert TFVAE_DEFAULTS["backbone"] == "auto"


def test_every_registered_module_keeps_the_model_contract():
    import torch

    from core.models.base import ModelModule
    from core.models.registry import module_classes
    from core.models.tfvae import TFVAE

    modules = {"betavae": BetaVAE(6, 2, [4]),
               "tfvae": TFVAE(6, ["T0", "T1"], [0, 1], hidden=[4])}
    assert set(modules) <= set(module_classes())
    for name, module in modules.items():
        assert isinstance(module, ModelModule), name
        rebuilt = module_classes()[name](**module.init_kwargs)
        assert rebuilt.init_kwargs == module.init_kwargs
        x = torch.rand(5, 6)
        mu, logvar = module.encode(x)[:2]
        assert mu.shape == logvar.shape == (5, 2)
        terms = module.loss({"x": x}, beta=1.0)
        assert torch.isfinite(terms["loss"]) and "kl" in terms
    assert not isinstance(torch.nn.Linear(2, 2), ModelModule)


def test_tfvae_phase_summary_keeps_the_last_phase_best_epoch():
    import pandas as pd

    from core.recipes.tfvae import _Phases
    from core.training.trainer import TrainResult

    def result(n, best, stopped="completed"):
        return TrainResult(history=pd.DataFrame(), n_epochs_run=n, stopped=stopped,
                           train_seconds=1.0, device="cpu", best_epoch=best,
                           train_idx=np.arange(2), val_idx=np.arange(0))

    phases = _Phases(None, None, None, None, None)
    phases.results = {"encoder": result(3, 3), "vae": result(10, 7)}
    s = phases.summary()
    assert s["n_epochs_run"] == 13 and s["best_epoch"] == 10
    assert s["phase_epochs"] == {"encoder": 3, "vae": 10} and s["stopped"] == "completed"
