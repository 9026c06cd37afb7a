"""Model name → module class, used to rebuild modules from run folders."""

from __future__ import annotations

from torch import nn


def module_classes() -> dict[str, type[nn.Module]]:
    """All module classes by model name (imported lazily so optional models stay optional)."""
    from core.models.deepset import DeepSet
    from core.models.tfvae import TFVAE
    from core.models.vae import BetaVAE

    classes: dict[str, type[nn.Module]] = {"betavae": BetaVAE, "tfvae": TFVAE,
                                           "scgen": BetaVAE, "deepset": DeepSet}
    return classes
