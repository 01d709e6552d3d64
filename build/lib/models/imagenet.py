"""ImageNet's 1,000 class names, in class-index order, as BigGAN's conditional models use them.

The names ship in `imagenet_classes.json` beside this module, taken from torchvision 0.28.0's
`_IMAGENET_CATEGORIES`; `scripts/imagenet_classes.py` regenerates the file.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

__all__ = ["class_index", "imagenet_class_names"]


@cache
def imagenet_class_names() -> tuple[str, ...]:
    raw = json.loads(resources.files("models").joinpath("imagenet_classes.json").read_text(encoding="utf-8"))
    return tuple(raw["names"])


def class_index(name_or_index: str | int, names: tuple[str, ...] | None = None) -> int:
    """An index given as int or digits, or a class name: exact first, else ignoring case if that is unique.

    Case matters for some: "Cardigan" is the corgi (264), "cardigan" the sweater (474).
    """
    names = imagenet_class_names() if names is None else names
    if isinstance(name_or_index, int) and not isinstance(name_or_index, bool):
        index = name_or_index
    elif isinstance(name_or_index, str) and name_or_index.strip().isdigit():
        index = int(name_or_index.strip())
    elif isinstance(name_or_index, str):
        wanted = name_or_index.strip()
        matches = [i for i, name in enumerate(names) if name == wanted] or [
            i for i, name in enumerate(names) if name.casefold() == wanted.casefold()
        ]
        if len(matches) != 1:
            raise ValueError(
                f"{name_or_index!r} names {'no class' if not matches else f'classes {matches}'}; "
                f"give a class index in 0..{len(names) - 1} or an exact class name"
            )
        return matches[0]
    else:
        raise ValueError(f"a class is an index or a name, got {name_or_index!r}")
    if not 0 <= index < len(names):
        raise ValueError(f"class index must be in 0..{len(names) - 1}, got {index}")
    return index
