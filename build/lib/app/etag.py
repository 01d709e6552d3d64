"""Response versions: every image and matrix is a pure function of URL and weights, so the weights name it."""

from __future__ import annotations

import hashlib

import torch

__all__ = ["weights_etag"]


def weights_digest(module: torch.nn.Module) -> str:
    """A short hash of a module's parameters and buffers: changes whenever the weights do."""
    digest = hashlib.sha256()
    for key, tensor in sorted(module.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def weights_etag(module: torch.nn.Module) -> str:
    """A strong ETag (quoted) for every response computed from these weights."""
    return f'"{weights_digest(module)}"'
