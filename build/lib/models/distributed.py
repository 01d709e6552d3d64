"""One process, or several under `torchrun` (gloo on CPU, nccl on GPUs)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

__all__ = ["Distributed", "finish_distributed", "setup_distributed"]


@dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: torch.device) -> Distributed:
    """This process's rank and device; under torchrun each rank takes its own GPU when `device` is CUDA."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Distributed(device=device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank()
    if device.type == "cuda":
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    return Distributed(rank, world_size, device)


def finish_distributed(dist_info: Distributed) -> None:
    if dist_info.world_size > 1:
        dist.barrier()
        dist.destroy_process_group()
