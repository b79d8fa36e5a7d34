"""Stand-ins of the shipped data and weights, built by the tests themselves, so that every code
path a spec can take runs on a fresh machine without ``shared/`` (the real data stays for CI).

* :func:`build_sr_root`: a data root with the shipped SR sets' names (Set5, Set14, B100, Urban100,
  T91), two small crops of scikit-image's images each, MATLAB-exact bicubic ``LR_bicubic`` files
  for Set5/Set14 at x2/x3/x4, and a ``manifest.json`` of their sha256 and pixel sha256;
* :func:`build_weights`: a ``weights/`` folder beside it with a randomly initialised checkpoint
  under every shipped checkpoint's file name, made from the registered model of the FP spec that
  names it (so strict loads, conversions and forwards run exactly as on the real files).

Numbers measured on stand-ins mean nothing; tests on them check that the paths run and agree.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

SETS = {"Set5": 2, "Set14": 2, "B100": 2, "Urban100": 2, "T91": 2}
WITH_LR = ("Set5", "Set14")
SIZE = (96, 120)  # HR height, width: divisible by 2, 3 and 4; x4 LR 24x30 (RFDN needs 15x15)


def _images(count: int, offset: int) -> list[np.ndarray]:
    import skimage.data

    sources = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee()]
    h, w = SIZE
    out = []
    for k in range(count):
        src = sources[(k + offset) % len(sources)]
        y, x = 37 * (k + offset) % (src.shape[0] - h), 53 * (k + offset) % (src.shape[1] - w)
        out.append(np.ascontiguousarray(src[y:y + h, x:x + w]))
    return out


def _entry(root: Path, rel: str) -> dict:
    from qsrbench.data.manifest import decode_image, pixel_sha256, sha256_file

    path = root / rel
    return {"file": rel, "sha256": sha256_file(path), "pixel_sha256": pixel_sha256(decode_image(path))}


def build_sr_root(root: Path) -> Path:
    """Write the stand-in SR data root (see the module docstring); returns it."""
    from qsrbench.data.imresize import imresize

    root.mkdir(parents=True, exist_ok=True)
    manifest: dict = {"description": "test stand-ins", "sets": {}}
    for offset, (name, count) in enumerate(SETS.items()):
        files = []
        for k, img in enumerate(_images(count, offset)):
            rel = f"{name}/HR/img{k}.png"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(root / rel)
            files.append(rel)
            if name in WITH_LR:
                for s in (2, 3, 4):
                    lr = imresize(torch.from_numpy(img).permute(2, 0, 1).contiguous(), 1.0 / s)
                    lr_rel = f"{name}/LR_bicubic/X{s}/img{k}x{s}.png"
                    (root / lr_rel).parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(lr.permute(1, 2, 0).numpy()).save(root / lr_rel)
                    files.append(lr_rel)
        manifest["sets"][name] = {"files": [_entry(root, f) for f in files]}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return root


def build_weights(folder: Path, fp_specs) -> dict[str, tuple[str, int]]:
    """A random checkpoint per weights file named by ``fp_specs``; ``{file: (model, scale)}``."""
    from qsrbench.models import create_model

    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for spec in fp_specs:
        if spec.model is None or not spec.model.weights or spec.model.weights in made:
            continue
        torch.manual_seed(len(made))
        net = create_model(spec.model.name, spec.scales[-1])
        torch.save(net.state_dict(), folder / spec.model.weights)
        made[spec.model.weights] = (spec.model.name, spec.scales[-1])
    return made
