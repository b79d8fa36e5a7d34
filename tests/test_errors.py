"""Every bad input of the foundation gets one clear error naming the file and the field.

Malformed TOML, unknown field, wrong type, unknown method/model/dataset, scale not supported by
a model, illegal combinations, missing data root, missing set, missing image, corrupt image,
checksum mismatch, results directory not writable, interrupted run, protocol change without a
version bump.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from qsrbench.data.manifest import pixel_sha256, sha256_file
from qsrbench.data.sr import ManifestSRDataset
from qsrbench.errors import DataError, SpecError, StoreError
from qsrbench.methods import RunContext
from qsrbench.models import ModelInfo
from qsrbench.registry import datasets, methods, models
from qsrbench.runner import run_spec
from qsrbench.spec import load_spec, parse_spec
from qsrbench.store import ResultStore

BASE = {"name": "t", "version": 1, "tier": "smoke", "method": {"name": "bicubic"},
        "datasets": ["skimage-demo"], "scales": [2]}


def spec_with(**changes):
    data = json.loads(json.dumps(BASE))
    data.update(changes)
    return data


def problems(data) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec(data, "x.toml")
    assert info.value.file == "x.toml"
    return info.value.problems


def test_malformed_toml_names_file_and_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\nversion = = 1\nscales = [2]\n')
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(path) in str(info.value) and "line 2" in str(info.value)


def test_missing_spec_file(tmp_path):
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(tmp_path / "nope.toml")


@pytest.mark.parametrize("changes,field", [
    ({"colour": 1}, "colour: unknown field (allowed: "),
    ({"protocol": {"colour": "y"}}, "protocol.colour: unknown field (allowed: channel, crop, domain"),
    ({"method": {"name": "bicubic", "alpha": 1}}, "method.alpha: unknown field (allowed: name)"),
])
def test_unknown_fields(changes, field):
    assert any(p.startswith(field) for p in problems(spec_with(**changes)))


@pytest.mark.parametrize("changes,field", [
    ({"version": "one"}, "version: "), ({"scales": ["x2"]}, "scales.0: "),
    ({"tier": "huge"}, "tier: "), ({"protocol": {"crop": -1}}, "protocol.crop"),
    ({"datasets": []}, "datasets: "),
])
def test_wrong_types_name_the_field(changes, field):
    assert any(p.startswith(field) for p in problems(spec_with(**changes)))


def test_unknown_names_suggest_close_ones():
    assert "did you mean 'bicubic'" in problems(spec_with(method={"name": "bicubc"}))[0]
    (p,) = problems(spec_with(datasets=["Set15"]))
    assert p.startswith("datasets.0:") and "'Set5'" in p and "'Set14'" in p
    found = problems(spec_with(method={"name": "fp"}, model={"name": "bicubik"}))
    assert any(p.startswith("model.name:") and "'bicubic'" in p for p in found)


def test_scale_not_supported_by_model():
    models.register(ModelInfo("toy-x2", lambda scale: nn.Conv2d(3, 12, 3), scales=(2,)))
    try:
        found = problems(spec_with(method={"name": "fp"}, model={"name": "toy-x2"}, scales=[2, 3]))
        assert any(p.startswith("scales.1:") and "does not support scale 3" in p for p in found)
    finally:
        models.unregister("toy-x2")


@pytest.mark.parametrize("changes,field", [
    ({"protocol": {"domain": "y", "lr_source": "shipped"}}, "protocol.lr_source"),
    ({"protocol": {"domain": "y", "channel": "rgb"}}, "protocol.channel"),
    ({"bits": {"weight": 4}}, "bits"),
    ({"scales": [2, 2]}, "scales"),
    ({"expected": [{"kind": "reference", "dataset": "Set5", "scale": 2, "metrics": {"psnr": 1},
                    "measured_by": "x", "how": "y"}]}, "expected.0.dataset"),
    ({"expected": [{"kind": "reference", "dataset": "skimage-demo", "scale": 2,
                    "metrics": {"lpips": 1}, "measured_by": "x", "how": "y"}]},
     "expected.0.metrics.lpips"),
    ({"metrics": {"psnr": {"direction": "lower"}}}, "metrics.psnr.direction"),
    ({"method": {"name": "fp"}}, "model"),
])
def test_illegal_combinations(changes, field):
    assert any(p.startswith(field) for p in problems(spec_with(**changes)))


PUBLISHED = {"kind": "published", "dataset": "skimage-demo", "scale": 2, "metrics": {"psnr": 30.0},
             "source": "A. Author, A Paper, 2020", "table": "Table 2", "read_from": "the paper"}


@pytest.mark.parametrize("claim,message", [
    ({k: v for k, v in PUBLISHED.items() if k != "kind"}, "expected.0.kind: is missing; say whether"),
    ({**PUBLISHED, "kind": "measured"}, "expected.0.kind: is 'measured'"),
    ({k: v for k, v in PUBLISHED.items() if k != "table"}, "expected.0.table: required field is missing"),
    ({k: v for k, v in PUBLISHED.items() if k != "read_from"}, "expected.0.read_from: required field"),
    ({**PUBLISHED, "tabel": "x"}, "expected.0.tabel: unknown field (allowed: covers_runs, dataset"),
    ({**PUBLISHED, "expect": "not-reproduced"}, "a 'finding' that says why"),
    ({"kind": "reference", "dataset": "skimage-demo", "scale": 2, "metrics": {"psnr": 30.0},
      "measured_by": "me"}, "expected.0.how: required field is missing"),
])
def test_every_claim_says_its_kind_and_source(claim, message):
    """The published/reference split is enforced by the schema, with the file and field."""
    found = problems(spec_with(expected=[claim]))
    assert any(message in p for p in found), found


def test_one_claim_of_each_kind_per_set_and_scale():
    ref = {"kind": "reference", "dataset": "skimage-demo", "scale": 2, "metrics": {"psnr": 30.0},
           "measured_by": "me", "how": "so"}
    parse_spec(spec_with(expected=[PUBLISHED, ref]), "x.toml")
    assert any("a second published entry" in p for p in problems(spec_with(expected=[PUBLISHED, PUBLISHED])))


def test_a_version_bump_needs_a_history_note():
    assert any(p.startswith("history: version 2 needs a note")
               for p in problems(spec_with(version=2)))
    assert any(p.startswith("history.1.version: 3 is above")
               for p in problems(spec_with(version=2, history=[{"version": 2, "reason": "x"},
                                                              {"version": 3, "reason": "y"}])))
    spec = parse_spec(spec_with(version=2, history=[{"version": 2, "reason": "new calibration"}]), "x.toml")
    assert spec.version_reason() == "new calibration"


# -- data -----------------------------------------------------------------------------------

def _write_png(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def _entry(root: Path, rel: str) -> dict:
    arr = np.array(Image.open(root / rel))
    arr = arr[..., None] if arr.ndim == 2 else arr
    return {"file": rel, "sha256": sha256_file(root / rel), "pixel_sha256": pixel_sha256(arr),
            "width": arr.shape[1], "height": arr.shape[0], "mode": "RGB"}


@pytest.fixture
def tiny_root(tmp_path):
    """A data root with one set 'Tiny' of two 24x24 RGB images and a manifest for them."""
    rng = np.random.default_rng(0)
    root = tmp_path / "root"
    for name in ("a", "b"):
        _write_png(root / "Tiny/HR" / f"{name}.png", rng.integers(0, 256, (24, 24, 3), dtype=np.uint8))
    manifest = {"sets": {"Tiny": {"files": [_entry(root, f"Tiny/HR/{n}.png") for n in ("a", "b")]}}}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def load_tiny(root):
    return ManifestSRDataset("Tiny", "test set").load(root, [2])


def test_missing_data_root(tmp_path):
    with pytest.raises(DataError, match="does not exist") as info:
        datasets.get("Set5").load(tmp_path / "nowhere", [2], origin="$QSRBENCH_DATA")
    assert str(tmp_path / "nowhere") in str(info.value) and "QSRBENCH_DATA" in str(info.value)


def test_missing_set_folder(tiny_root):
    shutil.rmtree(tiny_root / "Tiny")
    with pytest.raises(DataError, match="not found") as info:
        load_tiny(tiny_root)
    assert str(tiny_root / "Tiny" / "HR") in str(info.value)


def test_missing_image(tiny_root):
    (tiny_root / "Tiny/HR/b.png").unlink()
    with pytest.raises(DataError, match="missing") as info:
        load_tiny(tiny_root)
    assert str(tiny_root / "Tiny/HR/b.png") in str(info.value)


def test_corrupt_image(tiny_root):
    (tiny_root / "Tiny/HR/a.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    with pytest.raises(DataError, match="corrupt or unreadable") as info:
        load_tiny(tiny_root)
    assert str(tiny_root / "Tiny/HR/a.png") in str(info.value)


def test_checksum_mismatch(tiny_root):
    arr = np.array(Image.open(tiny_root / "Tiny/HR/a.png"))
    arr[0, 0, 0] ^= 1
    Image.fromarray(arr).save(tiny_root / "Tiny/HR/a.png")
    with pytest.raises(DataError, match="checksum mismatch") as info:
        load_tiny(tiny_root)
    assert str(tiny_root / "Tiny/HR/a.png") in str(info.value)


def test_reencoded_copy_with_same_pixels_is_accepted(tiny_root):
    arr = np.array(Image.open(tiny_root / "Tiny/HR/a.png"))
    Image.fromarray(arr).save(tiny_root / "Tiny/HR/a.png", compress_level=0)  # other bytes
    webp_listed = json.loads((tiny_root / "manifest.json").read_text())
    webp_listed["sets"]["Tiny"]["files"][1]["file"] = "Tiny/HR/b.webp"  # listed as WebP, shipped PNG
    (tiny_root / "manifest.json").write_text(json.dumps(webp_listed))
    loaded = load_tiny(tiny_root)
    assert [i.name for i in loaded.images] == ["a", "b"]
    assert torch.equal(loaded.images[0].hr, torch.from_numpy(arr).permute(2, 0, 1))


def test_manga109_stand_in_runs_end_to_end(tmp_path):
    """Manga109 is not shipped: it is found through the manifest's `not_included` entries."""
    rng = np.random.default_rng(1)
    root = tmp_path / "root"
    names = ["TitleA", "TitleB"]
    for n in names:
        _write_png(root / "Manga109/HR" / f"{n}.png", rng.integers(0, 256, (36, 30, 3), dtype=np.uint8))
    (root / "manifest.json").write_text(json.dumps({
        "sets": {}, "not_included": {"Manga109": {"files": [_entry(root, f"Manga109/HR/{n}.png")
                                                             for n in names]}}}))
    loaded = datasets.get("Manga109").load(root, [2])
    assert [i.name for i in loaded.images] == names and loaded.images[0].hr.shape == (3, 36, 30)
    spec = load_spec(Path(__file__).resolve().parent.parent / "suites/specs/sr/bicubic-y-manga109.toml")
    store = ResultStore(tmp_path / "results")
    summary = run_spec(spec, store, RunContext(data_root=root))
    assert sorted(r.scale for r in summary.recorded) == spec.scales
    assert all(r.extra["images"] == 2 for r in summary.recorded)


# -- store and runner -----------------------------------------------------------------------

def demo_spec(**changes):
    return parse_spec(spec_with(**{"scales": [2, 3, 4], "budget": {"max_images": 1}, **changes}),
                      "demo.toml")


def test_results_dir_not_writable_fails_before_any_work(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    calls = []
    monkeypatch.setattr(methods.get("bicubic"), "run_job", lambda *a: calls.append(a))
    with pytest.raises(StoreError, match="not writable") as info:
        run_spec(demo_spec(), ResultStore(blocker / "results"), RunContext())
    assert str(blocker / "results") in str(info.value) and not calls


def test_interrupted_run_keeps_finished_records_and_resumes(tmp_path, monkeypatch):
    store = ResultStore(tmp_path)
    cls = methods.get("bicubic")
    real = cls.run_job
    count = {"n": 0}

    def flaky(self, spec, job, ctx):
        count["n"] += 1
        if count["n"] == 2:
            raise KeyboardInterrupt
        return real(self, spec, job, ctx)

    monkeypatch.setattr(cls, "run_job", flaky)
    with pytest.raises(KeyboardInterrupt):
        run_spec(demo_spec(), store, RunContext())
    raw = store.file_for("t").read_bytes()
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1  # one whole record, nothing partial
    monkeypatch.setattr(cls, "run_job", real)
    summary = run_spec(demo_spec(), store, RunContext())
    assert len(summary.skipped) == 1 and len(summary.recorded) == 2
    assert sorted(r.scale for r in store.records("t")) == [2, 3, 4]


def test_torn_last_line_is_ignored_then_set_aside(tmp_path):
    store = ResultStore(tmp_path)
    run_spec(demo_spec(scales=[2]), store, RunContext())
    path = store.file_for("t")
    with open(path, "ab") as fh:
        fh.write(b'{"spec": "t", "half a rec')
    with pytest.warns(UserWarning, match="unfinished last line"):
        assert len(store.records("t")) == 1
    with pytest.warns(UserWarning, match="unfinished last line"):  # seen again when resuming
        run_spec(demo_spec(scales=[2, 3]), store, RunContext())
    assert [r.scale for r in store.records("t")] == [2, 3]
    assert b"half a rec" in path.with_name("t.jsonl.torn").read_bytes()


def test_corrupt_record_names_file_and_line(tmp_path):
    store = ResultStore(tmp_path)
    run_spec(demo_spec(scales=[2]), store, RunContext())
    with open(store.file_for("t"), "ab") as fh:
        fh.write(b"not json\n")
    with pytest.raises(StoreError, match=r"t\.jsonl:2"):
        store.records("t")


def test_adding_scales_needs_no_version_bump(tmp_path):
    store = ResultStore(tmp_path)
    run_spec(demo_spec(scales=[2]), store, RunContext())
    more = run_spec(demo_spec(scales=[2, 3], datasets=["skimage-demo"]), store, RunContext())
    assert len(more.skipped) == 1 and [r.scale for r in more.recorded] == [3]


def test_protocol_change_without_version_bump_is_refused(tmp_path):
    store = ResultStore(tmp_path)
    run_spec(demo_spec(scales=[2]), store, RunContext())
    changed = demo_spec(scales=[2], protocol={"crop": 0})
    with pytest.raises(SpecError, match="Bump 'version'"):
        run_spec(changed, store, RunContext())
    bumped = parse_spec({**changed.model_dump(mode="json"), "version": 2,
                         "history": [{"version": 2, "reason": "no crop"}]}, "demo.toml")
    assert len(run_spec(bumped, store, RunContext()).recorded) == 1


def test_schema_documents_every_field():
    """`qsrbench schema` is the spec reference: every property of every model has a description."""
    from qsrbench.spec import json_schema

    missing = []

    def walk(node, path):
        if isinstance(node, dict):
            missing.extend(f"{path}.{k}" for k, v in (node.get("properties") or {}).items()
                           if "description" not in v)
            for k, v in node.items():
                walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for v in node:
                walk(v, path)

    walk(json_schema(), "")
    assert not missing, f"fields without a description: {sorted(set(missing))}"
