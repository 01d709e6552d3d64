"""The `head` parameter of every map route, and the (N, M) map it picks from a sample."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import Query

from app.cache import Sample
from app.routes.deps import query_error
from models.geometry import AttentionLayer

__all__ = ["HeadQuery", "layer_map"]

MEAN = "mean"

HeadQuery = Annotated[
    str,
    Query(
        pattern=r"^(mean|[0-9]{1,4})$",
        description="attention head: an index 0 … heads − 1 (see /api/models), or `mean`, the mean over heads "
        "(rows still sum to 1); a layer with one head gives the same map for 0 and `mean`",
    ),
]


def layer_map(sample: Sample, layer: AttentionLayer, head: str) -> np.ndarray:
    """The (N, M) float32 map of `layer` in `sample` for `head` (an index as text, or "mean")."""
    if head == MEAN:
        return sample.attention[layer.name]
    index = int(head)
    if index >= layer.heads:
        raise query_error("head", f"{layer.name} has {layer.heads} head(s): give 0 … {layer.heads - 1} or mean")
    several = sample.heads.get(layer.name)
    return sample.attention[layer.name] if several is None else several[index]
