"""A small typed registry with lazy, entry-point based discovery.

``methods``, ``models`` and ``datasets`` are :class:`Registry` instances. Objects register by
name with a decorator (bare, using the object's ``name`` attribute, or with an explicit name)::

    @register_method
    class Bicubic(SRMethod):
        name = "bicubic"

Nothing is imported until a name is asked for: each registry knows its built-in modules and an
entry-point group (``qsrbench.methods``, ``qsrbench.models``, ``qsrbench.datasets``), whose entry
names are the registered names and whose values are the modules (or ``module:attr``) to import.
A module that fails to import is remembered with its error, so one broken optional method cannot
break ``import qsrbench`` or the lookup of any other name.
"""

from __future__ import annotations

import difflib
import importlib
from importlib import metadata
from typing import Callable, Generic, TypeVar, overload

from .errors import RegistryError

T = TypeVar("T")

__all__ = ["Registry", "methods", "models", "datasets", "register_method", "register_model",
           "register_dataset"]


class Registry(Generic[T]):
    """Name → object map for one kind of thing, filled by decorators and lazy imports."""

    def __init__(self, kind: str, group: str, builtin_modules: tuple[str, ...] = ()):
        self.kind = kind
        self.group = group
        self._builtin_modules = builtin_modules
        self._items: dict[str, T] = {}
        self._broken: dict[str, str] = {}
        self._builtins_loaded = False

    # -- registration -------------------------------------------------------------------------
    @overload
    def register(self, obj: T) -> T: ...
    @overload
    def register(self, obj: str | None = None) -> Callable[[T], T]: ...

    def register(self, obj=None):
        """Register ``obj`` under its ``name`` attribute; ``register("x")`` names it explicitly."""

        def add(item: T, name: str | None = None) -> T:
            key = name or getattr(item, "name", None)
            if not isinstance(key, str) or not key:
                raise TypeError(f"cannot register {item!r} as a {self.kind}: it has no name")
            existing = self._items.get(key)
            if existing is not None and existing is not item and _qualname(existing) != _qualname(item):
                raise RegistryError(f"{self.kind} {key!r} is registered twice: by "
                                    f"{_qualname(existing)} and by {_qualname(item)}")
            self._items[key] = item
            return item

        if obj is None or isinstance(obj, str):
            return lambda item: add(item, obj)
        return add(obj)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (for tests and plugins that replace an entry)."""
        self._items.pop(name, None)

    # -- discovery ----------------------------------------------------------------------------
    def _entry_points(self) -> dict[str, metadata.EntryPoint]:
        return {ep.name: ep for ep in metadata.entry_points(group=self.group)}

    def _load_builtins(self) -> None:
        if self._builtins_loaded:
            return
        self._builtins_loaded = True
        for module in self._builtin_modules:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if exc.name != module:  # the module exists but one of its imports is missing
                    self._broken[module] = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # noqa: BLE001 - remembered and reported on lookup
                self._broken[module] = f"{type(exc).__name__}: {exc}"

    def _load_entry_point(self, ep: metadata.EntryPoint) -> None:
        try:
            ep.load()
        except Exception as exc:  # noqa: BLE001 - remembered and reported on lookup
            self._broken[ep.name] = f"{ep.value} failed to import: {type(exc).__name__}: {exc}"

    def names(self) -> list[str]:
        """Every known name, registered or only announced by an entry point (imports nothing new)."""
        self._load_builtins()
        return sorted(set(self._items) | set(self._entry_points()))

    def get(self, name: str) -> T:
        """The object registered as ``name``, importing its module if needed."""
        self._load_builtins()
        if name not in self._items:
            ep = self._entry_points().get(name)
            if ep is not None:
                self._load_entry_point(ep)
        if name in self._items:
            return self._items[name]
        if name in self._broken:
            raise RegistryError(f"{self.kind} {name!r} could not be loaded: {self._broken[name]}")
        known = self.names()
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise RegistryError(f"unknown {self.kind} {name!r}{hint} (known: {', '.join(known) or 'none'})")

    def load_all(self) -> dict[str, T]:
        """Import every entry point; returns the loadable objects (broken ones are in ``broken``)."""
        self._load_builtins()
        for name, ep in self._entry_points().items():
            if name not in self._items and name not in self._broken:
                self._load_entry_point(ep)
        return dict(sorted(self._items.items()))

    @property
    def broken(self) -> dict[str, str]:
        """Names (or modules) that failed to import, with the error."""
        return dict(self._broken)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()


def _qualname(obj: object) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


methods: Registry = Registry("method", "qsrbench.methods")
_ZOO = ("bicubic", "imdn", "rfdn", "pan", "carn", "latticenet", "smsr", "edsr", "rdn")
models: Registry = Registry("model", "qsrbench.models", tuple(f"qsrbench.models.{m}" for m in _ZOO))
datasets: Registry = Registry("dataset", "qsrbench.datasets", ("qsrbench.data.sr", "qsrbench.data.cifar",
                                                                "qsrbench.data.imagefolder"))

register_method = methods.register
register_model = models.register
register_dataset = datasets.register
