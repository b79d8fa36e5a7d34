"""Errors that the CLI turns into one clear line (file, field, what was expected), never a traceback."""

from __future__ import annotations


class QsrbenchError(Exception):
    """Base class of every error the harness reports to a user."""

    exit_code = 2


class SpecError(QsrbenchError):
    """A spec file is malformed, names something unknown, or combines options illegally."""

    def __init__(self, file: str, problems: list[str]):
        self.file = str(file)
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"invalid spec {self.file}:\n{lines}")


class RegistryError(QsrbenchError, KeyError):
    """A name is not registered (the message suggests close names) or its module failed to import."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DataError(QsrbenchError):
    """A data root, data set or image is missing, corrupt or fails its checksum."""


class StoreError(QsrbenchError):
    """The results store cannot be read or written."""


class RebaselineError(StoreError):
    """A new result for a key the store holds differs beyond tolerance: bump the spec version."""
