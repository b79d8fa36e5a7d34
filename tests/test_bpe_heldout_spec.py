"""The held-out check of the MIP-found recipe (suites/specs/nas/bpe-mip-heldout-small.toml) trains
exactly the recipe bpe-mip-small recorded as best, on the search's data, on architectures the search
never saw: the 100 ground-truth names minus the search's sample. The sample is recomputed here from
its definition (numpy's ``default_rng(arch_seed).choice`` without replacement, sorted), not read from
the method under test, and the found recipe is read from the committed search record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from qsrbench.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "suites" / "specs" / "nas"


def _search_record() -> dict:
    lines = (ROOT / "results" / "bpe-mip-small.jsonl").read_text().splitlines()
    return json.loads(lines[-1])


def test_heldout_architectures_are_the_ones_the_search_did_not_see():
    search, held = load_spec(SPECS / "bpe-mip-small.toml"), load_spec(SPECS / "bpe-mip-heldout-small.toml")
    pick = np.random.default_rng(search.method.arch_seed).choice(100, size=search.method.archs, replace=False)
    seen = {f"Arch_{i + 1}" for i in pick}
    assert seen == set(_search_record()["extra"]["recipe_search"]["archs"])
    assert not seen & set(held.method.arch_names)
    assert seen | set(held.method.arch_names) == {f"Arch_{i}" for i in range(1, 101)}
    assert len(held.method.arch_names) == 80


def test_heldout_recipe_and_data_are_the_searchs():
    search, held = load_spec(SPECS / "bpe-mip-small.toml"), load_spec(SPECS / "bpe-mip-heldout-small.toml")
    s = _search_record()["extra"]["recipe_search"]
    assert held.method.recipe_values == {**s["base"], **s["best"]["recipe"]}
    m, h = search.method, held.method
    assert (h.train_images, h.test_images, h.seeds, h.score) == (m.train_images, m.test_images, m.seeds, m.score)
    assert held.datasets == search.datasets
