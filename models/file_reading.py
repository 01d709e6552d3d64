"""Reading the files a model is loaded from, so that any problem is one CheckpointError line naming the file.

Refused: a path that is missing, a symlink loop or not a regular file; JSON that is not UTF-8, not
valid, nested deeper than MAX_JSON_DEPTH, holds an integer of more than MAX_INTEGER_DIGITS digits,
or is not an object.
"""

from __future__ import annotations

import errno
import json
import stat
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["MAX_INTEGER_DIGITS", "MAX_JSON_BYTES", "MAX_JSON_DEPTH", "check_regular_file", "read_json_object"]

MAX_JSON_DEPTH = 32  # a model config nests two or three levels
MAX_INTEGER_DIGITS = 30
MAX_JSON_BYTES = 2**20


def _refuse(path: Path, problem: str) -> NoReturn:
    from models.checkpoint import CheckpointError  # models.checkpoint reads its files through this module

    raise CheckpointError(f"{path}: {problem}")


def check_regular_file(path: Path) -> int:
    """The size of the regular file at `path`, following symlinks; CheckpointError says why there is none."""
    try:
        status = path.stat()
    except FileNotFoundError:
        _refuse(path, "no such file")
    except OSError as error:
        if error.errno == errno.ELOOP:
            _refuse(path, "a symlink loop: following its links comes back to itself; point it at a real file")
        _refuse(path, f"cannot be read ({error.strerror or type(error).__name__})")
    if not stat.S_ISREG(status.st_mode):
        _refuse(path, "not a regular file")
    return status.st_size


class _TooManyDigits(ValueError):
    pass


def _small_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _TooManyDigits(len(text.lstrip("-")))
    return int(text)


def _depth(value: Any) -> int:
    """How deeply `value` nests lists and objects (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, level + 1)
            stack.extend((child, level + 1) for child in children)
    return deepest


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    """The JSON object in the file at `path` (`what` says what it should hold, for the messages)."""
    size = check_regular_file(path)
    if size > MAX_JSON_BYTES:
        _refuse(path, f"{size:,} bytes, over the {MAX_JSON_BYTES:,} that {what} may take")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"), parse_int=_small_int)
    except UnicodeDecodeError:
        _refuse(path, f"not a UTF-8 text file; expected {what}")
    except _TooManyDigits as error:
        _refuse(path, f"an integer of {error.args[0]:,} digits, over the {MAX_INTEGER_DIGITS} that {what} may use")
    except json.JSONDecodeError as error:
        _refuse(path, f"not valid JSON ({error})")
    except RecursionError:
        _refuse(path, f"JSON nested more than {MAX_JSON_DEPTH} levels deep; expected {what}")
    if _depth(raw) > MAX_JSON_DEPTH:
        _refuse(path, f"JSON nested more than {MAX_JSON_DEPTH} levels deep; expected {what}")
    if not isinstance(raw, dict):
        _refuse(path, f"expected a JSON object of {what}, got {type(raw).__name__}")
    return raw
