"""Code fingerprints: which code made a record, so that a golden made by other code shows as stale.

A record's fingerprint covers the source of every module that can change its numbers: the
method's module, the registered model's and data sets' modules, and everything they import from
the tracked packages (``qsrbench``, ``reference`` and the method's own top-level package), found
statically from ``import`` statements anywhere in those files (function-level imports too), with
the ``__init__`` of every package on the way. Registry look-ups by name are not imports, which is
why the model's and the data sets' modules are roots of their own.

Each file is hashed after normalization: parsed, docstrings and the text of ``description=``
arguments (field documentation) dropped, and unparsed again (``ast.unparse``), so comments,
documentation and formatting never change a fingerprint and any change of code does. The normal form is that of the running Python's ``ast``; records made under
another Python minor version may show as stale without a code change.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path

__all__ = ["normalized_digest", "module_closure", "code_fingerprint", "roots_for"]

TRACKED = ("qsrbench", "reference")


def _package_dir(top: str) -> Path | None:
    """The folder holding top-level package ``top`` (its ``__init__`` is imported, nothing else;
    not cached, so a package that moves on ``sys.path`` is followed)."""
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _module_file(name: str) -> Path | None:
    top, *rest = name.split(".")
    base = _package_dir(top)
    if base is None:
        return None
    path = base.joinpath(*rest)
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if rest and path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    """Drop docstrings and the text of ``description=`` arguments (pydantic field documentation)."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
        if isinstance(node, ast.keyword) and node.arg == "description":
            node.value = ast.Constant("")
    return tree


@lru_cache(maxsize=None)
def _parsed(path: Path, mtime_ns: int) -> tuple[str, tuple[tuple[str, int, str], ...]]:
    """``(digest, imports)`` of one file; ``imports``: ``(module, level, name)`` triples."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    imports = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports += [(alias.name, 0, "") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            imports += [(node.module or "", node.level, alias.name) for alias in node.names]
    text = ast.unparse(_strip_docstrings(tree))
    return hashlib.sha256(text.encode()).hexdigest(), tuple(imports)


def normalized_digest(path: str | Path) -> str:
    """sha256 of the file's code without comments, docstrings or formatting."""
    path = Path(path)
    return _parsed(path, path.stat().st_mtime_ns)[0]


def _resolve(current: str, is_package: bool, module: str, level: int) -> str:
    if level == 0:
        return module
    parts = current.split(".") if is_package else current.split(".")[:-1]
    base = parts[:len(parts) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def module_closure(roots: tuple[str, ...]) -> dict[str, Path]:
    """Every tracked module ``roots`` import, transitively: ``{module name: file}``."""
    tracked = set(TRACKED) | {r.split(".")[0] for r in roots}
    found: dict[str, Path] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in found or name.split(".")[0] not in tracked:
            continue
        path = _module_file(name)
        if path is None:
            continue
        found[name] = path
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent packages run first
        is_package = path.name == "__init__.py"
        for module, level, attr in _parsed(path, path.stat().st_mtime_ns)[1]:
            target = _resolve(name, is_package, module, level)
            todo.append(target)
            if attr and attr != "*":
                todo.append(f"{target}.{attr}" if target else attr)  # "from pkg import submodule"
    return dict(sorted(found.items()))


def code_fingerprint(roots: tuple[str, ...]) -> dict:
    """``{"digest", "roots", "files"}``: one digest over the closure of ``roots`` and the
    normalized digest of each file in it (short form), keyed by module name."""
    closure = module_closure(tuple(sorted(set(roots))))
    files = {name: normalized_digest(path)[:16] for name, path in closure.items()}
    blob = "\n".join(f"{name} {digest}" for name, digest in files.items())
    return {"digest": hashlib.sha256(blob.encode()).hexdigest()[:16], "roots": sorted(set(roots)),
            "files": files}


def roots_for(spec) -> tuple[str, ...]:
    """The modules a spec's results come from: method, model and data sets (via the registry)."""
    from .registry import datasets, methods, models

    roots = {methods.get(spec.method.name).__module__}
    if spec.model is not None:
        roots.add(models.get(spec.model.name).factory.__module__)
    for name in methods.get(spec.method.name).data_sets(spec):
        roots.add(type(datasets.get(name)).__module__)
    return tuple(sorted(roots))
