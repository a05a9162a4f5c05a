"""The public API: everything in ``iopcore.__all__`` exists and says what it is for."""

from __future__ import annotations

import inspect

import pytest

import iopcore


@pytest.mark.parametrize("name", iopcore.__all__)
def test_public_names_exist_and_are_documented(name: str) -> None:
    value = getattr(iopcore, name)
    if inspect.isclass(value) or inspect.isfunction(value):
        doc = inspect.getdoc(value) or ""
        own = value.__doc__ if inspect.isclass(value) else doc
        assert (own or "").strip(), f"iopcore.{name} has no docstring"


def test_no_two_public_names_clash() -> None:
    assert len(set(iopcore.__all__)) == len(iopcore.__all__)
    assert sorted(iopcore.__all__, key=lambda n: (n[0].islower(), n)) == iopcore.__all__
