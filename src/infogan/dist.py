"""torch.distributed helpers: no-ops in a single process, DDP under ``torchrun``.

``torchrun --nproc_per_node=N --no-python infogan train ...`` sets RANK, WORLD_SIZE and
LOCAL_RANK; :func:`setup` then joins the process group (gloo on CPU, NCCL on CUDA).
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def resolve_device(name: str) -> torch.device:
    """The device ``train.device`` names (auto: CUDA when available); ConfigError when it cannot be used."""
    from .config import ConfigError  # config does not import this module

    if not (name in ("auto", "cpu") or name.startswith("cuda")):
        raise ConfigError(f"device {name!r} is not accepted; use auto, cpu, cuda or cuda:N")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"train.device={name!r} but CUDA is not available here; use train.device=cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"train.device={name!r} is not a device; use auto, cpu, cuda or cuda:N") from None


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 matrix products run natively here (CUDA, or a CPU with AVX-512 BF16 or AMX),
    so that bf16 autocast speeds training up instead of slowing it down."""
    if device.type == "cuda":
        return True
    if device.type != "cpu":
        return False
    cpu = getattr(torch, "cpu", None)
    checks = [getattr(cpu, n, None) for n in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(bool(f()) for f in checks if f is not None)


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def launched() -> bool:
    """True when started by torchrun (or another launcher setting WORLD_SIZE > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: torch.device) -> torch.device:
    """Join the process group when launched with torchrun; returns this rank's device."""
    if not launched() or dist.is_initialized():
        return device
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        dist.init_process_group("gloo")
    return device


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def mean_scalars(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Average a dict of floats over ranks (one collective); identity in one process."""
    if world_size() == 1 or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    t /= world_size()
    return dict(zip(keys, t.tolist()))


def any_flag(flag: bool, device: torch.device) -> bool:
    """True on every rank if it is true on any rank (keeps ranks stopping at the same step)."""
    if world_size() == 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def gather_tensors(t: torch.Tensor) -> list[torch.Tensor]:
    """All ranks' copies of an equally shaped tensor (e.g. RNG states), in rank order."""
    if world_size() == 1:
        return [t]
    out = [torch.empty_like(t) for _ in range(world_size())]
    dist.all_gather(out, t)
    return out
