"""Code fingerprints: they change when a method's code changes, not when a comment or a docstring
does, nor when a module outside the method's import closure changes."""

from __future__ import annotations

import sys
import textwrap

import pytest

from qsrbench.provenance import code_fingerprint, module_closure, normalized_digest, roots_for
from qsrbench.spec import load_spec


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A throw-away top-level package ``fppkg`` with a method module importing a helper."""
    root = tmp_path / "fppkg"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "helper.py").write_text("def scale(x):\n    return 2 * x\n")
    (root / "unrelated.py").write_text("VALUE = 1\n")
    (root / "method.py").write_text(textwrap.dedent('''\
        """A method."""
        from .helper import scale


        def run(x):
            # doubles
            return scale(x) + 1
        '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m.startswith("fppkg")]:
        monkeypatch.delitem(sys.modules, name)
    return root


def _digest(root) -> str:
    return code_fingerprint(("fppkg.method",))["digest"]


def _rewrite(path, text):
    import os

    st = path.stat()
    path.write_text(text)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # a new mtime for the cache


def test_closure_follows_relative_imports_and_packages(package):
    assert list(module_closure(("fppkg.method",))) == ["fppkg", "fppkg.helper", "fppkg.method"]


def test_fingerprint_changes_with_code_not_with_comments_or_unrelated_files(package):
    before = _digest(package)
    method = package / "method.py"
    _rewrite(method, method.read_text().replace("# doubles", "# twice the input, plus one"))
    _rewrite(method, method.read_text().replace('"""A method."""', '"""A method, documented better."""'))
    _rewrite(package / "unrelated.py", "VALUE = 2\n")
    assert _digest(package) == before
    _rewrite(package / "helper.py", "def scale(x):\n    return 3 * x\n")
    after_helper = _digest(package)
    assert after_helper != before
    _rewrite(method, method.read_text().replace("+ 1", "+ 2"))
    assert _digest(package) != after_helper


def test_normalized_digest_ignores_formatting_and_field_documentation(tmp_path):
    a, b, c = tmp_path / "a.py", tmp_path / "b.py", tmp_path / "c.py"
    a.write_text("x = [1,2,3]\ny = Field(3, description='old')\n")
    b.write_text("x = [1, 2, 3]  # a list\n\ny = Field(3, description='new words')\n")
    c.write_text("x = [1, 2, 3]\ny = Field(4, description='old')\n")
    assert normalized_digest(a) == normalized_digest(b) != normalized_digest(c)


def test_a_spec_fingerprint_covers_method_model_and_data_modules():
    spec = load_spec("suites/specs/ptq/imdn-x4/ptq-imdn-x4-w4a4.toml")
    roots = roots_for(spec)
    assert roots == ("qsrbench.data.sr", "qsrbench.models.imdn", "reference.ptq")
    files = code_fingerprint(roots)["files"]
    assert {"reference.fp", "qsrbench.quant.calibration", "qsrbench.metrics"} <= set(files)
    assert "qsrbench.leaderboard" not in files and "qsrbench.cli" not in files
