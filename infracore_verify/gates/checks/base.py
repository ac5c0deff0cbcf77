"""Native gate plumbing: the `native_gate` decorator, the table of implementations and the contract view.

A native gate is a plain function `check(view) -> Iterable[Finding]`: no pytest, no assert. It declares
which contracts it reads; the engine loads them first and, if one does not load, fails the gate with the
loader's findings instead of calling it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property

from infracore_verify.contracts.findings import Finding
from infracore_verify.contracts.loader import Document
from infracore_verify.contracts.model import Registry, RunProfiles, Topology
from infracore_verify.contracts.sets import FILES, Contracts

ENVIRONMENTS = "environments"
"""Pseudo contract name: every environment file of the set."""
ALL_CONTRACTS = (*FILES, ENVIRONMENTS)

CheckFunc = Callable[["ContractView"], Iterable[Finding]]


class UndeclaredReadError(Exception):
    """A native gate read a contract it did not declare in `reads` (a bug in the gate)."""


@dataclass(frozen=True)
class NativeCheck:
    """A gate implemented in Python."""

    gate_id: str
    func: CheckFunc
    reads: tuple[str, ...]

    @property
    def doc(self) -> str:
        """Return the check's docstring (the report's description)."""
        return (self.func.__doc__ or "").strip()


NATIVE: dict[str, NativeCheck] = {}


def native_gate(gate_id: str, *, reads: Iterable[str]) -> Callable[[CheckFunc], CheckFunc]:
    """Register `func` as the native implementation of `gate_id`, reading the named contracts."""
    names = tuple(reads)
    unknown = [n for n in names if n not in ALL_CONTRACTS]
    if unknown:
        raise ValueError(f"{gate_id}: unknown contract names {unknown}")

    def register(func: CheckFunc) -> CheckFunc:
        if gate_id in NATIVE:
            raise ValueError(f"{gate_id} is implemented twice")
        NATIVE[gate_id] = NativeCheck(gate_id, func, names)
        return func

    return register


class ContractView:
    """The contracts a native gate declared, and typed views of the common ones."""

    def __init__(self, contracts: Contracts, reads: tuple[str, ...]) -> None:
        self.contracts = contracts
        self.reads = reads

    def _check(self, name: str) -> None:
        if name not in self.reads:
            raise UndeclaredReadError(f"the gate reads '{name}' without declaring it")

    def __getitem__(self, name: str) -> Document:
        """Return the loaded contract `name` (declared, required or present)."""
        self._check(name)
        return self.contracts.doc(name)

    def optional(self, name: str) -> Document | None:
        """Return the loaded contract `name` when its file exists, else None."""
        self._check(name)
        return self.contracts.doc(name) if self.contracts.exists(name) else None

    def environments(self) -> list[Document]:
        """Return every environment file of the set, loaded."""
        self._check(ENVIRONMENTS)
        return [self.contracts.environment(p.stem) for p in self.contracts.environment_files()]

    @cached_property
    def registry(self) -> Registry:
        """Return the registry view."""
        return Registry.from_doc(self["registry"])

    @cached_property
    def topology(self) -> Topology:
        """Return the topology view."""
        return Topology.from_doc(self["topology"])

    @cached_property
    def run_profiles(self) -> RunProfiles:
        """Return the run profile view."""
        return RunProfiles.from_doc(self["run_profiles"])


def input_documents(contracts: Contracts, reads: tuple[str, ...]) -> list[Document]:
    """Return the documents a gate reads: required contracts always, optional ones when present."""
    docs: list[Document] = []
    for name in reads:
        if name == ENVIRONMENTS:
            docs += [contracts.environment(p.stem) for p in contracts.environment_files()]
        elif FILES[name][1] or contracts.exists(name):
            docs.append(contracts.doc(name))
    return docs
