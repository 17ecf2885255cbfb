"""The run's seed, where every pytest face of the subpackages can read it.

The plugin reads ``--apiharness-seed`` (or the ``apiharness_seed`` ini value) once, in
``pytest_configure``, and stores it on the config; fixtures and items read it with
:func:`seed_for`. A module of its own so that subpackages need not import the plugin.
"""

from __future__ import annotations

import pytest

__all__ = ["SEED_KEY", "seed_for"]

SEED_KEY = pytest.StashKey[int]()


def seed_for(config: pytest.Config) -> int:
    """The seed configured for this run (0 when the plugin did not configure one)."""
    return config.stash.get(SEED_KEY, 0)
