"""Choosing and describing the compute device (cuda → mps → cpu)."""

from __future__ import annotations

import torch

from core.errors import ConfigError

DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")


def pick_device(preference: str | torch.device | None = "auto") -> torch.device:
    """Return the device to train on.

    Parameters
    ----------
    preference
        ``"auto"`` (or ``None``) picks CUDA if available, then Apple MPS, then CPU.
        ``"cuda"``, ``"cuda:1"``, ``"mps"`` or ``"cpu"`` force one; asking for a device that is
        not available raises :class:`~core.errors.ConfigError`.

    Returns
    -------
    torch.device
        The chosen device.
    """
    if isinstance(preference, torch.device):
        preference = str(preference)
    pref = (preference or "auto").lower()
    if pref == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if pref.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                "A CUDA GPU was requested but none is available on this server; "
                "choose device 'auto' or 'cpu'."
            )
        return torch.device(pref)
    if pref == "mps":
        if not _mps_available():
            raise ConfigError(
                "Apple MPS was requested but is not available; choose 'auto' or 'cpu'."
            )
        return torch.device("mps")
    if pref == "cpu":
        return torch.device("cpu")
    raise ConfigError(f"Unknown device '{preference}'; use one of {', '.join(DEVICE_CHOICES)}.")


def describe_device(device: torch.device | str | None = None) -> str:
    """Human-readable device name, e.g. ``"CUDA GPU: NVIDIA H200"`` or ``"CPU (2 threads)"``."""
    device = pick_device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"CUDA GPU: {torch.cuda.get_device_name(index)}"
    if device.type == "mps":
        return "Apple MPS GPU"
    return f"CPU ({torch.get_num_threads()} threads)"


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
