"""State-dict key handling shared by every file format."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DATA_PARALLEL_PREFIX = "module."


def without_data_parallel_prefix(state: Any) -> Any:
    """A DataParallel state dict (every key `module.…`) as the wrapped module's own; anything else as given."""
    if (
        isinstance(state, Mapping)
        and state
        and all(isinstance(key, str) and key.startswith(DATA_PARALLEL_PREFIX) for key in state)
    ):
        return {key.removeprefix(DATA_PARALLEL_PREFIX): value for key, value in state.items()}
    return state
