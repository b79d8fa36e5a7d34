"""qsrbench.plots.same_plot: a figure re-rendered on another CPU may move a few anti-aliased
pixels by a few levels; anything more (a glyph, a marker, a size) is a different figure. Hand-made
images, so the rule is checked against known differences."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from qsrbench.plots import JITTER_LEVELS, same_plot


def _png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a.astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _base() -> np.ndarray:
    a = np.full((100, 100, 3), 255, np.int32)
    a[40:60, 10:90] = 0  # a black bar
    return a


def test_identical_and_jittered_figures_are_the_same():
    base = _base()
    assert same_plot(_png(base), _png(base))
    jitter = base.copy()
    jitter[39, 10:60, :] -= 8  # 50 edge pixels 8 levels darker: 0.5 % of the pixels
    assert same_plot(_png(base), _png(jitter))
    edge = base.copy()
    edge[39, 10:60, 0] -= JITTER_LEVELS  # exactly at the bound, one channel
    assert same_plot(_png(base), _png(edge))


def test_real_changes_are_different_figures():
    base = _base()
    glyph = base.copy()
    glyph[10:14, 10:13] = 0  # a small dark mark (12 pixels, 255 levels)
    assert not same_plot(_png(base), _png(glyph))
    beyond = base.copy()
    beyond[39, 10:60, :] -= JITTER_LEVELS + 1
    assert not same_plot(_png(base), _png(beyond))
    spread = base.copy()
    spread[:20, :, :] -= 4  # small differences over 20 % of the pixels
    assert not same_plot(_png(base), _png(spread))
    assert not same_plot(_png(base), _png(base[:, :90]))  # another size
    assert not same_plot(_png(base), b"not a png")
