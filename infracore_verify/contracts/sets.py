"""The contract set: where each contract lives (suite or ops layout), loaded through the one loader.

Two layouts are detected automatically:

- suite layout: `<dir>/gate.registry.yaml`, `<dir>/capabilities.yaml`, `<dir>/environments/`; gate scripts
  are relative to the directory's parent (the project root);
- ops layout: `<root>/ops/bindings/*.yaml`, `<root>/ops/capabilities.yaml`; gate scripts relative to `<root>`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from infracore_verify.contracts.findings import Finding
from infracore_verify.contracts.loader import Document, file_sha256, load_document, relative_display

PACKAGE_DIR = Path(__file__).resolve().parents[1]
"""The installed `infracore_verify` package."""
EMBEDDED_CONTRACTS = Path(str(resources.files("infracore_verify.contracts") / "bundled"))
"""The embedded default shipped as package data: contracts, schemas and the sandbox environment."""


def _checkout_root() -> Path | None:
    """Return the project checkout this package runs from (an editable install), or None for a wheel."""
    root = PACKAGE_DIR.parent
    if (root / "pyproject.toml").is_file() and (root / "contracts" / "gate.registry.yaml").is_file():
        return root
    return None


CHECKOUT_ROOT = _checkout_root()
SUITE_ROOT = CHECKOUT_ROOT or PACKAGE_DIR
"""The checkout when running from one, else the installed package: where the suite's own code and docs are."""
BUNDLED_CONTRACTS = CHECKOUT_ROOT / "contracts" if CHECKOUT_ROOT else EMBEDDED_CONTRACTS
"""The default contract set: the checkout's `contracts/` when running from the checkout, else the embedded one."""

# logical name -> (file name, required)
FILES: dict[str, tuple[str, bool]] = {
    "registry": ("gate.registry.yaml", True),
    "topology": ("gate.execution.topology.yaml", True),
    "domain_profiles": ("gate.domain.profiles.yaml", False),
    "agent_profiles": ("gate.agent.profiles.yaml", False),
    "run_profiles": ("verify.run.profile.contract.yaml", True),
    "ring_policy": ("verify.ring.policy.yaml", True),
    "classification": ("verify.failure.classification.contract.yaml", True),
    "baseline": ("infra.core.baseline.contract.yaml", True),
    "slo": ("infra.core.slo.yaml", True),
    "health": ("services.health.yaml", True),
    "recovery": ("recovery.actions.yaml", True),
    "capabilities": ("capabilities.yaml", True),
    "capability_map": ("capability_map.yaml", True),
    "gaps": ("operational.gaps.yaml", True),
    "inventory": ("cloudflare.inventory.yaml", True),
}


class ContractsPathError(Exception):
    """The path given with --contracts is not a contract set."""


@dataclass(frozen=True)
class Contracts:
    """A contract set on disk; documents are loaded lazily and cached per process by the loader."""

    path: Path
    layout: Literal["suite", "ops"]
    root: Path
    """Where gate scripts are resolved from and run (SPINE_ROOT)."""
    display_base: Path

    @classmethod
    def open(cls, path: Path, display_base: Path | None = None) -> Contracts:
        """Detect the layout of `path` and return the contract set, or raise ContractsPathError."""
        path = path.resolve()
        if (path / "gate.registry.yaml").is_file():
            layout: Literal["suite", "ops"] = "suite"
            root = path.parent
        elif (path / "ops" / "bindings" / "gate.registry.yaml").is_file():
            layout, root = "ops", path
        else:
            raise ContractsPathError(
                f"{path}: neither {path}/gate.registry.yaml (suite layout) nor "
                f"{path}/ops/bindings/gate.registry.yaml (ops repository) exists; "
                "point --contracts at a contracts directory or an ops repository root"
            )
        return cls(path, layout, root, (display_base or Path.cwd()).resolve())

    def file_path(self, name: str) -> Path:
        """Return the path of the logical contract `name` in this layout."""
        file_name = FILES[name][0]
        if self.layout == "suite":
            return self.path / file_name
        if name == "capabilities":
            return self.path / "ops" / "capabilities.yaml"
        return self.path / "ops" / "bindings" / file_name

    def display(self, path: Path) -> str:
        """Return the path as shown in messages (relative to the invocation directory when below it)."""
        return relative_display(path, self.display_base)

    def schema_path(self, file_name: str) -> Path:
        """Return the JSON Schema for a contract file: the set's own schemas, else the bundled ones."""
        stem = file_name.removesuffix(".yaml")
        for base in (self.path / "schemas", BUNDLED_CONTRACTS / "schemas"):
            candidate = base / f"{stem}.schema.json"
            if candidate.is_file():
                return candidate
        return BUNDLED_CONTRACTS / "schemas" / f"{stem}.schema.json"

    def exists(self, name: str) -> bool:
        """Return True when the logical contract's file is present."""
        return self.file_path(name).is_file()

    def doc(self, name: str) -> Document:
        """Load (once per process) and return the logical contract `name`."""
        path = self.file_path(name)
        # An ops repository's files are read as its yq reads them: a repeated key is its last value (D908 lists them).
        schema = self.schema_path(FILES[name][0])
        return load_document(name, path, self.display(path), schema, repeated_keys=self.layout == "ops")

    def documents(self) -> Iterator[Document]:
        """Yield every contract this set has: required ones always, optional ones when present."""
        for name, (_, required) in FILES.items():
            if required or self.exists(name):
                yield self.doc(name)
        for path in self.environment_files():
            yield self.environment(path.stem)

    def environment_dirs(self) -> list[Path]:
        """Return where environment files are looked up: the set's own, then the bundled ones."""
        dirs = [self.path / "environments", BUNDLED_CONTRACTS / "environments"]
        return [d for i, d in enumerate(dirs) if d.is_dir() and d.resolve() not in {x.resolve() for x in dirs[:i]}]

    def environment_files(self) -> list[Path]:
        """Return every environment file visible to this set (first directory wins per name)."""
        seen: dict[str, Path] = {}
        for directory in self.environment_dirs():
            for path in sorted(directory.glob("*.yaml")):
                seen.setdefault(path.stem, path)
        return list(seen.values())

    def environment(self, name: str) -> Document:
        """Load the environment file `name` (e.g. `sandbox`)."""
        for path in self.environment_files():
            if path.stem == name:
                return load_document(f"environment:{name}", path, self.display(path), self.schema_path("environment"))
        known = ", ".join(p.stem for p in self.environment_files()) or "none"
        doc = Document(f"environment:{name}", self.path / "environments" / f"{name}.yaml", f"environments/{name}.yaml")
        doc.errors.append(Finding(doc.display, 0, "", f"no environment named '{name}'", f"use one of: {known}"))
        return doc

    def fingerprint(self) -> dict[str, str]:
        """Return the sha256 of every contract file in the set, keyed by its displayed path."""
        out: dict[str, str] = {}
        for doc in self.documents():
            digest = doc.sha256 or file_sha256(doc.path)
            if digest:
                out[doc.display] = digest
        return out
