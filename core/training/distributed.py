"""Data-parallel training on several devices with PyTorch's DistributedDataParallel (DDP).

Two halves, both used by :func:`core.training.trainer.fit` through small hooks:

**Launch** (:func:`run_on_devices`, in the calling process). ``TrainConfig(devices=N)`` with
N > 1 starts N processes with ``torch.multiprocessing`` (``spawn``) and
``torch.distributed.init_process_group`` — NCCL on CUDA (one GPU per process, rank r on
``cuda:r``), gloo on the CPU — and runs the same function on each. We chose spawn over
``torchrun`` because the caller (the CLI, the app's job process, a notebook) already holds the
preprocessed data: spawn hands every rank the same arrays through shared memory (read once,
preprocessed once, no N-fold copy), and the caller stays the one process that writes the run
folder, the progress and the metrics once training ends ("rank 0 writes" without N processes
re-running the recipe). ``torchrun`` re-executes the whole command per rank: N reads, N
preprocessings, N-1 processes that must be kept from writing. A script launched by
``torchrun`` still works: :func:`active` sees its process group and ``fit`` trains
data-parallel inside it. NCCL reads its settings from the environment the ranks inherit (e.g.
``NCCL_NVLS_ENABLE=0``, which this module never overrides).

**Per rank** (:class:`DataParallel`, inside each process). Every rank holds the model and all
cells (device-resident rows, as on one device; any :data:`~core.training.device_data.Rows`
source works, since batches are index lists); each epoch a :class:`ShardSampler` (the
algorithm of ``torch.utils.data.DistributedSampler``) gives each rank its own share of a
seeded global permutation of the training cells, and DDP all-reduces the gradients. The
configured ``batch_size`` stays the number of cells per optimiser step (each rank takes
⌈batch/N⌉), so a run means the same with any device count. Everything that decides what the
loop does next — epoch loss terms, validation loss (early stopping), the cancel flag — is
all-reduced, so all ranks take the same decision at the same step and never deadlock.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import pickle
import queue as queue_module
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.multiprocessing.spawn import ProcessException
from torch.nn.parallel import DistributedDataParallel

from core.device import pick_device
from core.errors import ConfigError, DataError

#: Process-group backend per device type.
BACKENDS = {"cuda": "nccl", "cpu": "gloo"}
#: All-reduce the cancel flag every this many steps (one 4-byte collective; at 245 steps per
#: epoch of 1M cells that is 16 small syncs, against a cancel answered within ~0.1 s on a GPU).
CANCEL_CHECK_EVERY = 16


def active() -> bool:
    """Whether this process is one rank of a process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def check_devices(device: str, devices: int) -> None:
    """Raise :class:`ConfigError` unless ``devices`` processes can train on ``device``.

    Parameters
    ----------
    device
        The device preference (``auto``, ``cuda``, ``cpu``, ...).
    devices
        How many devices (one process each); 1 is always valid.
    """
    if int(devices) != devices or devices < 1:
        raise ConfigError(f"devices must be a whole number of at least 1; got {devices!r}.")
    if devices == 1:
        return
    dev = pick_device(device)
    if dev.type not in BACKENDS:
        raise ConfigError(f"Training on {devices} devices needs CUDA GPUs (or the CPU); "
                          f"'{dev.type}' trains on one device only: use --devices 1.")
    if dev.type == "cuda" and dev.index is not None:
        raise ConfigError(f"With --devices {devices} choose device 'cuda' (GPUs 0 to "
                          f"{devices - 1}), not '{device}'.")
    have = torch.cuda.device_count() if dev.type == "cuda" else (os.cpu_count() or 1)
    if devices > have:
        what = "GPUs" if dev.type == "cuda" else "CPU cores"
        raise ConfigError(f"--devices {devices} asks for {devices} {what} but this server has "
                          f"{have}; choose --devices {have} or fewer.")


class ShardSampler:
    """Each rank's share of the training cells, reshuffled every epoch.

    The algorithm of ``torch.utils.data.DistributedSampler`` (shuffle, ``drop_last=False``),
    vectorised: a permutation seeded by ``seed + epoch``, padded by repeating its first cells
    to a multiple of ``world``, and every ``world``-th element from ``rank``. All shares have
    the same length, so every rank takes the same number of steps; they are disjoint when
    ``world`` divides the number of cells, and otherwise repeat fewer than ``world`` cells.
    """

    def __init__(self, n: int, *, rank: int, world: int, seed: int) -> None:
        self.n, self.rank, self.world, self.seed = int(n), int(rank), int(world), int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return math.ceil(self.n / self.world)

    def positions(self, epoch: int) -> torch.Tensor:
        """Positions (0 … n-1) of this rank's cells in ``epoch``."""
        g = torch.Generator().manual_seed(self.seed + int(epoch))
        perm = torch.randperm(self.n, generator=g)
        total = len(self) * self.world
        if total > self.n:
            perm = torch.cat([perm, perm.repeat(math.ceil(total / self.n))[:total - self.n]])
        return perm[self.rank:total:self.world]

    def next_epoch(self) -> torch.Tensor:
        """The positions of the next epoch (epochs counted from 0)."""
        out = self.positions(self.epoch)
        self.epoch += 1
        return out


class _LossForward(nn.Module):
    """DDP synchronises gradients of what its ``forward`` computed; a model's ``loss`` is
    called through this forward so the trainer keeps calling ``loss`` only."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, batch: dict[str, torch.Tensor], kwargs: dict[str, Any]
                ) -> dict[str, torch.Tensor]:
        return dict(self.module.loss(batch, **kwargs).items())


class DataParallel:
    """The per-rank side of :func:`~core.training.trainer.fit` in a process group.

    Parameters
    ----------
    module
        The model, already on ``device``.
    device
        This rank's device.
    n_train
        Number of training cells.
    seed
        The run's seed (the sampler's, and with the rank added, dropout's).
    params
        Parameters being optimised, when not all: the others are left out of DDP and unused
        ones are searched for (the TF-VAE's phases train parts of the model).
    """

    def __init__(self, module: nn.Module, device: torch.device, *, n_train: int, seed: int,
                 params: list[nn.Parameter] | None = None) -> None:
        self.rank, self.world, self.device = dist.get_rank(), dist.get_world_size(), device
        self.module = module
        wrapper = _LossForward(module)
        if params is not None:
            keep = {id(p) for p in params}
            frozen = [f"module.{k}" for k, p in module.named_parameters() if id(p) not in keep]
            DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(wrapper, frozen)
        self.loss_module = DistributedDataParallel(
            wrapper, device_ids=[device.index if device.index is not None
                                 else torch.cuda.current_device()]
            if device.type == "cuda" else None,
            find_unused_parameters=params is not None)
        self.sampler = ShardSampler(n_train, rank=self.rank, world=self.world, seed=seed)
        torch.manual_seed(seed + self.rank)   # dropout masks differ between ranks' cells

    def per_rank_batch(self, batch_size: int) -> int:
        """Cells per step on each rank: the configured batch split over the ranks."""
        return max(2, math.ceil(batch_size / self.world))

    def order(self, train_t: torch.Tensor) -> torch.Tensor:
        """This rank's training cells for the next epoch, in order."""
        return train_t[self.sampler.next_epoch().to(train_t.device)]

    def cancelled(self, cancel: Any, step: int) -> bool:
        """Whether any rank saw the cancel flag (checked every :data:`CANCEL_CHECK_EVERY`
        steps, on all ranks at the same step)."""
        if step % CANCEL_CHECK_EVERY:
            return False
        flag = torch.tensor([float(cancel is not None and cancel.is_set())], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item() > 0)

    def mean_terms(self, sums: Mapping[str, torch.Tensor | float], seen: int
                   ) -> dict[str, float]:
        """Per-cell means over all ranks of the summed loss terms (same keys on every rank)."""
        keys = list(sums)
        packed = torch.tensor([float(sums[k]) for k in keys] + [float(seen)],
                              dtype=torch.float64, device=self.device)
        dist.all_reduce(packed)
        total = max(float(packed[-1]), 1.0)
        return {k: float(packed[i]) / total for i, k in enumerate(keys)}

    def validate(self, evaluate: Callable[..., dict[str, float]], val_t: torch.Tensor,
                 **kwargs: Any) -> dict[str, float]:
        """Validation terms of rank 0's model, each rank scoring its share of ``val_t``.

        BatchNorm statistics are first copied from rank 0 (each rank updated its own in its
        last step), so the loss monitored is that of the weights rank 0 keeps.
        """
        for buffer in self.module.buffers():
            dist.broadcast(buffer, src=0)
        share = val_t[self.rank::self.world] if len(val_t) >= self.world else val_t
        terms = evaluate(self.module, idx=share, **kwargs)
        return self.mean_terms({k: v * len(share) for k, v in terms.items()}, len(share))


# ---------------------------------------------------------------------------- launching


def share_arrays(data: Mapping[str, Any], folder: Path) -> dict[str, tuple]:
    """Per-cell arrays written once as ``.npy`` files in ``folder``, which every rank maps
    into memory: the page cache holds one copy for all ranks, and unlike shared-memory
    tensors it does not depend on the size of ``/dev/shm`` (64 MB in a default container,
    far below a 1M-cell matrix). Other row sources (e.g. data read lazily from disk) are
    pickled as they are."""
    out: dict[str, tuple] = {}
    for key, value in data.items():
        if sp.issparse(value):
            csr = sp.csr_matrix(value)
            csr.sort_indices()            # here, once: ranks only read the mapped files
            parts = {"indptr": csr.indptr, "indices": csr.indices, "data": csr.data}
            out[key] = ("csr", {k: _save(folder / f"{key}.{k}.npy", v)
                                for k, v in parts.items()}, csr.shape)
        elif isinstance(value, np.ndarray):
            out[key] = ("dense", _save(folder / f"{key}.npy", value), None)
        else:
            out[key] = ("as_is", value, None)
    return out


def _save(path: Path, array: np.ndarray) -> str:
    np.save(path, np.ascontiguousarray(array), allow_pickle=False)
    return str(path)


def load_shared(shared: Mapping[str, tuple]) -> dict[str, Any]:
    """The arrays of :func:`share_arrays`, memory-mapped copy-on-write (nothing is read twice)."""
    out: dict[str, Any] = {}
    for key, (kind, where, shape) in shared.items():
        if kind == "csr":
            parts = {k: np.load(v, mmap_mode="c") for k, v in where.items()}
            out[key] = sp.csr_matrix((parts["data"], parts["indices"], parts["indptr"]),
                                     shape=shape)
        elif kind == "dense":
            out[key] = np.load(where, mmap_mode="c")
        else:
            out[key] = where
    return out


class _ProgressProxy:
    """The :class:`~core.training.progress.Progress` calls of rank 0, sent to the caller."""

    def __init__(self, messages: Any) -> None:
        self._messages = messages

    def set_phase(self, phase: str, n_epochs: int, message: str = "") -> None:
        self._messages.put(("progress", "set_phase", (phase, n_epochs, message)))

    def update(self, epoch: int, terms: dict[str, float]) -> None:
        self._messages.put(("progress", "update", (epoch, dict(terms))))

    def note(self, message: str) -> None:
        self._messages.put(("progress", "note", (message,)))


@dataclass
class _Task:
    """What every rank runs: ``fn(module, data, params=…, progress=…, cancel=…, **kwargs)``."""

    fn: Callable[..., Any]
    module: bytes                   # pickled, so each rank gets its own copy of the weights
    data: dict[str, tuple]          # see share_arrays
    param_names: list[str] | None
    kwargs: dict[str, Any]

    def run(self, rank: int, messages: Any, cancel: Any) -> tuple[Any, dict | None]:
        module = pickle.loads(self.module)
        named = dict(module.named_parameters())
        params = None if self.param_names is None else [named[n] for n in self.param_names]
        value = self.fn(module, load_shared(self.data), params=params,
                        progress=_ProgressProxy(messages) if rank == 0 else None,
                        cancel=cancel, **self.kwargs)
        state = ({k: v.detach().cpu() for k, v in module.state_dict().items()}
                 if rank == 0 else None)
        return value, state


def _worker(rank: int, world: int, init_file: str, device_type: str, task: _Task,
            messages: Any, cancel: Any) -> None:
    """One rank: join the process group, run the task, send rank 0's result."""
    if device_type == "cuda":
        torch.cuda.set_device(rank)
    else:  # the ranks share the cores; more threads than cores only adds contention
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    dist.init_process_group(BACKENDS[device_type], init_method=f"file://{init_file}",
                            rank=rank, world_size=world)
    try:
        value, state = task.run(rank, messages, cancel)
        dist.barrier()
        if rank == 0:   # as bytes: shared-memory tensors would need this process alive
            messages.put(("done", pickle.dumps((value, state))))
    except Exception as exc:
        messages.put(("error", type(exc).__name__, str(exc)))
        raise
    finally:
        dist.destroy_process_group()


def run_on_devices(fn: Callable[..., Any], module: nn.Module, data: Mapping[str, Any], *,
                   devices: int, device: str, params: Iterable[nn.Parameter] | None = None,
                   progress: Any = None, cancel: Any = None, **kwargs: Any) -> Any:
    """Run ``fn`` on ``devices`` processes (one per device) and return rank 0's result.

    Parameters
    ----------
    fn
        A module-level function ``fn(module, data, *, params, progress, cancel, **kwargs)``
        (e.g. :func:`~core.training.trainer.fit`); on each rank a process group is active.
    module
        The model; rank 0's trained weights are loaded back into it.
    data
        Per-cell arrays (numpy, scipy sparse, or any picklable row source).
    devices, device
        Number of processes and the device preference (``cuda`` or ``cpu``).
    params
        Parameters to optimise (default all), passed to ``fn`` as the rank's own.
    progress, cancel
        The caller's progress sink (rank 0's calls are forwarded) and cancel flag.
    kwargs
        Further keyword arguments of ``fn`` (picklable).

    Returns
    -------
    Any
        What ``fn`` returned on rank 0.
    """
    check_devices(device, devices)
    device_type = pick_device(device).type
    names = None
    if params is not None:
        ids = {id(p): k for k, p in module.named_parameters()}
        names = [ids[id(p)] for p in params]
    ctx = mp.get_context("spawn")
    messages, stop = ctx.Queue(), ctx.Event()
    with tempfile.TemporaryDirectory(prefix="scvae-ddp-") as tmp:
        task = _Task(fn, pickle.dumps(module.cpu()), share_arrays(data, Path(tmp)), names, kwargs)
        with _no_main_script():
            procs = mp.start_processes(
                _worker, args=(devices, str(Path(tmp) / "init"), device_type, task, messages,
                               stop),
                nprocs=devices, join=False, start_method="spawn")
        value, state = _watch(procs, messages, progress, cancel, stop)
    module.load_state_dict(state)
    return value


@contextlib.contextmanager
def _no_main_script() -> Iterator[None]:
    """Start processes without re-running the caller's ``__main__`` in them.

    ``spawn`` re-imports the parent's main module in every child. Inside Streamlit (a page
    script runs as ``__main__``) that would run the app in each rank; the ranks need only
    :func:`_worker`, which pickles by its module path. So while the ranks start, ``__main__``
    is a bare module with no file.
    """
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def one_process_per_device(fit: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate :func:`~core.training.trainer.fit`: a call with ``config.devices`` > 1 made
    outside a process group runs ``fit`` on that many ranks (:func:`run_on_devices`); on a
    rank, and with one device, ``fit`` runs as it is."""

    @functools.wraps(fit)
    def launching(module: nn.Module, data: Mapping[str, Any], *, config: Any,
                  params: Iterable[nn.Parameter] | None = None, progress: Any = None,
                  cancel: Any = None, **kwargs: Any) -> Any:
        if config.devices > 1 and not active():
            config.validate()
            # Checkpoints are written by one process only; a data-parallel fit does not
            # checkpoint yet (its run folder is still written whole at the end).
            kwargs["checkpoint"] = None
            return run_on_devices(launching, module, data, devices=config.devices,
                                  device=config.device, params=params, progress=progress,
                                  cancel=cancel, config=config, **kwargs)
        return fit(module, data, config=config, params=params, progress=progress,
                   cancel=cancel, **kwargs)

    return launching


def _watch(procs: Any, messages: Any, progress: Any, cancel: Any, stop: Any
           ) -> tuple[Any, dict]:
    """Forward progress and cancel until every rank has exited; rank 0's (value, state)."""
    done: tuple | None = None
    finished = False
    while not (finished and done is not None):
        if cancel is not None and cancel.is_set():
            stop.set()
        msg = _next_message(messages, 0.1)
        if msg is not None and msg[0] == "progress" and progress is not None:
            getattr(progress, msg[1])(*msg[2])
        elif msg is not None and msg[0] == "done":
            done = pickle.loads(msg[1])
        elif msg is not None and msg[0] == "error":
            _stop_all(procs)
            raise _error(msg[1], msg[2])
        try:
            finished = finished or bool(procs.join(timeout=0))
        except ProcessException as exc:   # a rank died: its own message says why
            _stop_all(procs)
            msg = _next_message(messages, 2.0, only="error")
            raise (_error(msg[1], msg[2]) if msg else RuntimeError(
                f"A training process failed: {str(exc).strip().splitlines()[-1]}")) from None
    return done


def _next_message(messages: Any, timeout: float, only: str | None = None) -> tuple | None:
    """The next message (of kind ``only``, when given) within ``timeout`` seconds, or None."""
    end = time.monotonic() + timeout
    while True:
        try:
            msg = messages.get(timeout=max(0.0, end - time.monotonic()))
        except queue_module.Empty:
            return None
        if only is None or msg[0] == only:
            return msg


def _error(kind: str, message: str) -> Exception:
    """A rank's exception as the caller's: the one-line errors of :mod:`core.errors` as
    they are, anything else as a RuntimeError naming it."""
    cls = {"ConfigError": ConfigError, "DataError": DataError}.get(kind)
    return cls(message) if cls else RuntimeError(
        f"A training process failed ({kind}: {message}).")


def _stop_all(procs: Any) -> None:
    """End the ranks that still run (e.g. waiting in a collective for a failed one)."""
    for p in procs.processes:
        if p.is_alive():
            p.terminate()
    for p in procs.processes:
        p.join(timeout=5)


__all__ = ["BACKENDS", "DataParallel", "ShardSampler", "active", "check_devices",
           "one_process_per_device", "run_on_devices"]
