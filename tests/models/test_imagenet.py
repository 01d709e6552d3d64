from __future__ import annotations

import pytest

from models.imagenet import class_index, imagenet_class_names


def test_the_shipped_list_has_a_thousand_distinct_names() -> None:
    names = imagenet_class_names()
    assert len(names) == 1000 and len(set(names)) == 1000
    assert all(name == name.strip() and name for name in names)


def test_every_name_and_index_finds_its_class() -> None:
    names = imagenet_class_names()
    for index, name in enumerate(names):
        assert class_index(name) == index and class_index(f" {name} ") == index
        assert class_index(index) == index and class_index(str(index)) == index


@pytest.mark.parametrize(("given", "message"), [(1000, "0..999"), (-1, "0..999"), ("unicorn", "names no class")])
def test_unknown_classes_are_refused_with_what_to_give(given: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        class_index(given)  # type: ignore[arg-type]


def test_case_is_ignored_only_where_that_leaves_one_class() -> None:
    names = ("crane", "heron", "Crane", "Stork")
    assert class_index("Crane", names) == 2 and class_index("stork", names) == 3
    with pytest.raises(ValueError, match=r"names classes \[0, 2\]"):
        class_index("CRANE", names)
