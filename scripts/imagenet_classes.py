"""Regenerate models/imagenet_classes.json: ImageNet's 1,000 class names in class-index order.

The names are torchvision's `_IMAGENET_CATEGORIES` (torchvision/models/_meta.py), read from the
torchvision wheel by parsing that file; torchvision is neither imported nor installed.

    python scripts/imagenet_classes.py              # pip-downloads the wheel (no dependencies) to a temp folder
    python scripts/imagenet_classes.py WHEEL        # or reads a torchvision wheel already on disk
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

TORCHVISION = "0.28.0"  # the release that goes with torch 2.13
MEMBER = "torchvision/models/_meta.py"
OUT = Path(__file__).resolve().parent.parent / "models" / "imagenet_classes.json"


def categories(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        tree = ast.parse(archive.read(MEMBER).decode("utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_IMAGENET_CATEGORIES" for t in node.targets):
            names = ast.literal_eval(node.value)
            if len(names) != 1000 or not all(isinstance(name, str) and name for name in names):
                raise SystemExit(f"{wheel}: _IMAGENET_CATEGORIES is not 1,000 names")
            return names
    raise SystemExit(f"{wheel}: no _IMAGENET_CATEGORIES in {MEMBER}")


def download(folder: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", f"torchvision=={TORCHVISION}"]
    subprocess.run([*command, "--dest", str(folder)], check=True)
    return next(folder.glob("torchvision-*.whl"))


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        wheel = Path(sys.argv[1]) if len(sys.argv) > 1 else download(Path(scratch))
        payload = {
            "source": f"torchvision {wheel.name.split('-')[1]}, {MEMBER}, _IMAGENET_CATEGORIES (BSD-3-Clause)",
            "names": categories(wheel),
        }
    OUT.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(payload['names'])} names to {OUT}")


if __name__ == "__main__":
    main()
