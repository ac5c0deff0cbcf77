"""Ported host-bound ops gates: D153 project attach parity and D163-D166 workbench locks.

They read the operator's paths outside the repository (`/Users/<operator>/code/...`, the workbench
checkout), as the ops scripts do; `ops_common.host_path` maps them below INFRACORE_HOST_ROOT when set.
Findings name the operator's path. The embedded python3 snippets' semantics are kept (an explicit null
reads as 'None'); their `bool("false") is True` is fixed (`ops_common.flag`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from infracore_verify.contracts.findings import Finding
from infracore_verify.contracts.loader import Document
from infracore_verify.gates.checks.base import ContractView, native_gate
from infracore_verify.gates.checks.ops_common import OpsRepo, flag, get, host_path, py_str, repo

BINDINGS = "ops/bindings"
HOST_CODE = "/Users/ronnyworks/code/"
"""The operator's code directory, hard-coded by D153 (repo_path must lie below it)."""


def _mapping(r: OpsRepo, path: Path) -> tuple[dict[Any, Any] | None, list[Finding]]:
    """Load a YAML file the snippets' way (`safe_load(...) or {}`), returning (mapping, problems)."""
    doc = r.load(path)
    if doc.errors:
        return None, doc.errors
    data = doc.data or {}
    if not isinstance(data, dict):
        return None, [doc.finding((), "expected mapping at YAML root", "make the top level a mapping")]
    return data, []


def _seq(value: Any) -> list[Any]:
    """Return `value or []` for iteration (a scalar is iterated by the ops snippets; here it reads as empty)."""
    return value if isinstance(value, list) else []


# --- D153 ---------------------------------------------------------------------------------------------


@native_gate("D153", reads=())
def check_project_attach_parity(c: ContractView) -> Iterator[Finding]:
    """Checks every active agent's project_binding against its .spine-link.yaml on this host (ops D153)."""
    r = repo(c)
    files = {
        "agents registry": r.path(f"{BINDINGS}/agents.registry.yaml"),
        "domain profiles": r.path(f"{BINDINGS}/gate.domain.profiles.yaml"),
        "agent profiles": r.path(f"{BINDINGS}/gate.agent.profiles.yaml"),
    }
    loaded: dict[str, dict[Any, Any]] = {}
    for label, path in files.items():
        if not path.is_file():
            yield r.file_finding(path, f"missing {label}: {path}", f"restore {r.display(path)}")
            return
        data, problems = _mapping(r, path)
        if data is None:
            yield from problems
            return
        loaded[label] = data
    policy_path = r.path(f"{BINDINGS}/project.attach.link.policy.yaml")
    policy_doc: dict[Any, Any] = {}
    if policy_path.is_file():
        data, problems = _mapping(r, policy_path)
        if data is None:
            yield from problems
            return
        policy_doc = data
    policy = policy_doc.get("policy") or {}
    attach_name = py_str(get(policy, "attach_filename"), ".spine-link.yaml") or ".spine-link.yaml"
    need_git_root = flag(get(policy, "repo_path_must_be_git_root"))
    registry_doc = r.load(files["agents registry"])
    agents = loaded["agents registry"].get("agents") or []
    if not isinstance(agents, list):
        yield registry_doc.finding(("agents",), "agents registry has invalid agents[] payload", "make agents a list")
        return
    packs = {str(k) for k in (loaded["domain profiles"].get("domains") or {})}
    packs |= {
        str(p["agent_id"])
        for p in (loaded["agent profiles"].get("profiles") or [])
        if isinstance(p, dict) and p.get("agent_id")
    }
    checked = 0
    for index, agent in enumerate(agents):
        if not isinstance(agent, dict):
            continue
        if (py_str(get(agent, "implementation_status"), "active").lower() or "active") != "active":
            continue
        binding = agent.get("project_binding")
        if not isinstance(binding, dict):
            continue
        checked += 1
        messages = _binding_problems(r, agent, binding, packs, attach_name, need_git_root)
        for message in messages:
            yield registry_doc.finding(
                ("agents", index, "project_binding"), message, "regenerate the project attach bindings"
            )
    if checked == 0:
        yield registry_doc.finding(
            ("agents",), "no active project_binding entries found in agents.registry.yaml", "add a project_binding"
        )


def _binding_problems(
    r: OpsRepo, agent: dict[Any, Any], binding: dict[Any, Any], packs: set[str], attach_name: str, need_git: bool
) -> list[str]:
    """Return D153's findings for one active binding, stopping where the ops script stops."""
    aid, adomain = py_str(get(agent, "id")), py_str(get(agent, "domain"))
    required = (
        "repo_path",
        "project_id",
        "domain",
        "agent_id",
        "gate_pack",
        "verify_command",
        "governance_bundle",
        "spine_link_version",
    )
    missing = [f for f in required if f not in binding]
    if missing:
        return [f"{aid}: project_binding missing fields: {', '.join(missing)}"]
    repo_path = py_str(get(binding, "repo_path"))
    bdomain, bagent, bpack = (py_str(get(binding, k)) for k in ("domain", "agent_id", "gate_pack"))
    if not repo_path.startswith(HOST_CODE):
        return [f"{aid}: repo_path must be absolute under {HOST_CODE} (got: {repo_path})"]
    repo_dir = host_path(os.path.normpath(repo_path), r.root)
    if need_git and not (repo_dir / ".git").exists():
        # The ops script asks `git rev-parse --show-toplevel`; the repository root is where .git is.
        return [f"{aid}: project_binding.repo_path is not a git worktree root (got: {repo_path})"]
    out: list[str] = []
    if bdomain != adomain:
        out.append(f"{aid}: project_binding.domain '{bdomain}' must match agent domain '{adomain}'")
    if bagent != aid:
        out.append(f"{aid}: project_binding.agent_id '{bagent}' must match agent id '{aid}'")
    if bpack not in packs:
        out.append(f"{aid}: project_binding.gate_pack '{bpack}' does not resolve to domain pack or agent pack")
    link = repo_dir / attach_name
    shown = f"{os.path.normpath(repo_path)}/{attach_name}"
    if not link.is_file():
        return [*out, f"{aid}: missing attach file: {shown}"]
    doc = r.load(link)
    if doc.errors:
        return [*out, f"{aid}: invalid yaml in {shown}: {doc.errors[0].message}"]
    data = doc.data or {}
    if not isinstance(data, dict):
        # The ops snippet crashes here (a traceback, no findings); a finding says why.
        return [*out, f"{aid}: {shown} is not a mapping"]
    for name, expected in (("domain", bdomain), ("agent_id", bagent), ("gate_pack", bpack)):
        if py_str(get(data, name)) != expected:
            got = data.get(name)
            out.append(f"{aid}: .spine-link.yaml {name} mismatch (expected '{expected}', got '{got}')")
    return out


# --- D163-D166: the shared contract rules -------------------------------------------------------------


class Contract:
    """A workbench lock contract: its data, accumulated errors and violations, and its exception paths."""

    def __init__(self, r: OpsRepo, doc: Document, data: dict[Any, Any]) -> None:
        self.r, self.doc, self.data = r, doc, data
        self.errors: list[str] = []
        self.violations: list[tuple[str, str]] = []
        for key in ("status", "owner", "last_verified", "scope", "checks", "exceptions"):
            if key not in data:
                self.errors.append(f"contract missing required field: {key}")
        self.checks = data["checks"] if isinstance(data.get("checks"), list) else []
        self.excepted: set[str] = set()
        for row in data["exceptions"] if isinstance(data.get("exceptions"), list) else []:
            if not isinstance(row, dict):
                self.errors.append("contract exceptions[] entries must be mappings")
                continue
            for key in ("path", "reason", "owner", "expires_on", "ticket_id"):
                if not py_str(get(row, key)):
                    self.errors.append(f"contract exception missing required field: {key}")
            if py_str(get(row, "path")):
                self.excepted.add(py_str(get(row, "path")))
        shown = os.path.expanduser(py_str(get(data, "workbench_root"))) or "."
        self.workbench_shown = shown
        self.workbench = host_path(shown, r.root)
        if not self.workbench.is_dir():
            self.errors.append(f"workbench_root does not exist: {shown}")

    def enabled(self) -> Iterator[tuple[str, dict[Any, Any]]]:
        """Yield (id, check) for each check mapping with a non-empty id and a true `enforce` (default true)."""
        for check in self.checks:
            if isinstance(check, dict) and py_str(get(check, "id")) and flag(get(check, "enforce")):
                yield py_str(get(check, "id")), check

    def scan(self, check_id: str, check: dict[Any, Any], *, skip_comments: bool = False) -> None:
        """Record forbidden-pattern hits in the check's include_paths below the workbench (first hit per file)."""
        patterns = [py_str(p) for p in _seq(check.get("forbidden_patterns")) if py_str(p)]
        for rel in [py_str(p) for p in _seq(check.get("include_paths")) if py_str(p)]:
            path = f"{rel}::{check_id}"
            if path in self.excepted:
                continue
            target = self.workbench / rel
            if not target.is_file():
                self.violations.append((path, f"governed file missing: {self.workbench_shown}/{rel}"))
                continue
            text = target.read_text(encoding="utf-8", errors="ignore")
            for number, raw in enumerate(text.splitlines(), start=1):
                line = raw.strip() if skip_comments else raw
                if skip_comments and line.startswith("#"):
                    continue
                hit = next((p for p in patterns if p in line), None)
                if hit is not None:
                    self.violations.append((path, f"forbidden pattern '{hit}' at line {number}"))
                # The ops scripts stop when the *last* violation is this file's (so a repeated rel stops early).
                if self.violations and self.violations[-1][0] == path:
                    break

    def findings(self) -> Iterator[Finding]:
        """Yield the errors (which mask violations, as in the ops scripts), else the violations."""
        if self.errors:
            yield from (
                self.doc.finding((), f"contract :: {e}", "fix the contract or the workbench checkout")
                for e in self.errors
            )
            return
        for path, message in self.violations:
            yield self.doc.finding(("checks",), f"{path} :: {message}", "fix the workbench file or add an exception")


def _open_contract(c: ContractView, name: str) -> tuple[Contract | None, list[Finding]]:
    """Open `ops/bindings/<name>`: (contract, []) or (None, why it cannot be read)."""
    r = repo(c)
    path = r.path(f"{BINDINGS}/{name}")
    if not path.is_file():
        return None, [r.file_finding(path, f"missing contract: {path}", f"restore {BINDINGS}/{name}")]
    data, problems = _mapping(r, path)
    if data is None:
        return None, [
            Finding(p.file, p.line, p.path, f"unable to parse contract: {p.message}", p.fix) for p in problems
        ]
    return Contract(r, r.load(path), data), []


CheckRun = Callable[[Contract, str, dict[Any, Any]], None]
"""Runs one enabled check of a contract: (contract, check id, check), recording into the contract."""


def _run_checks(
    c: ContractView, name: str, runs: Mapping[str, CheckRun], otherwise: CheckRun | None = None
) -> Iterator[Finding]:
    """Open `ops/bindings/<name>`, run each enabled check by its id (`otherwise` for other ids) and yield the findings."""
    contract, problems = _open_contract(c, name)
    if contract is None:
        yield from problems
        return
    for check_id, check in contract.enabled():
        run = runs.get(check_id, otherwise)
        if run is not None:
            run(contract, check_id, check)
    yield from contract.findings()


def _governed(contract: Contract, rel: str, check_id: str, missing: str) -> str | None:
    """Return the exception path `<rel>::<check_id>`; None when it is excepted or `rel` is empty (error `missing`)."""
    if not rel:
        contract.errors.append(missing)
        return None
    path = f"{rel}::{check_id}"
    return None if path in contract.excepted else path


@native_gate("D163", reads=())
def check_workbench_ssh_attach(c: ContractView) -> Iterator[Finding]:
    """Checks the workbench SSH config and attach file against ssh.targets.yaml (ops D163)."""
    contract, problems = _open_contract(c, "workbench.ssh.attach.contract.yaml")
    if contract is None:
        yield from problems
        return
    data, r = contract.data, contract.r
    rels = {k: py_str(get(data, k)) for k in ("spine_binding", "workbench_ssh_config", "attach_file")}
    for key, value in rels.items():
        if not value:
            contract.errors.append(f"contract missing {key}")
    binding = r.path(rels["spine_binding"]) if rels["spine_binding"] else None
    ssh_config = contract.workbench / rels["workbench_ssh_config"] if rels["workbench_ssh_config"] else None
    attach = contract.workbench / rels["attach_file"] if rels["attach_file"] else None
    if binding is not None and not binding.is_file():
        contract.errors.append(f"missing spine binding: {rels['spine_binding']}")
    if ssh_config is not None and not ssh_config.is_file():
        contract.errors.append(f"missing workbench ssh config: {rels['workbench_ssh_config']}")
    checks = {py_str(get(ch, "id")): ch for ch in contract.checks if isinstance(ch, dict)}

    def on(check_id: str) -> bool:
        return check_id in checks and flag(get(checks[check_id], "enforce"))

    attach_rel = rels["attach_file"]
    if on("attach_file_present") and attach is not None:
        path = f"{attach_rel}::attach_file_present"
        if not attach.is_file() and path not in contract.excepted:
            contract.violations.append((path, f"attach file missing: {contract.workbench_shown}/{attach_rel}"))
    attach_doc: dict[Any, Any] = {}
    if attach is not None and attach.is_file():
        data_or_none, bad = _mapping(r, attach)
        if data_or_none is None:
            contract.violations.append(
                (f"{attach_rel}::attach_source_registry_match", f"invalid attach YAML: {bad[0].message}")
            )
        else:
            attach_doc = data_or_none
    if on("attach_source_registry_match"):
        expected = py_str(get(checks["attach_source_registry_match"], "expected_source_registry"))
        actual = py_str(get(attach_doc, "source_registry"))
        path = f"{attach_rel}::attach_source_registry_match"
        if expected and actual != expected and path not in contract.excepted:
            contract.violations.append((path, f"source_registry mismatch (expected '{expected}', got '{actual}')"))
    targets = _spine_targets(contract, binding, rels["spine_binding"])
    hosts = _ssh_hosts(ssh_config)
    _ssh_parity(contract, on, rels["workbench_ssh_config"], targets, hosts)
    yield from contract.findings()


def _spine_targets(contract: Contract, binding: Path | None, rel: str) -> dict[str, tuple[str, str]]:
    """Return ssh.targets ids -> (host, user), the last repeated id winning."""
    if binding is None or not binding.is_file():
        return {}
    data, bad = _mapping(contract.r, binding)
    if data is None:
        contract.errors.append(f"failed to parse {rel}: {bad[0].message}")
        return {}
    ssh = data["ssh"] if isinstance(data.get("ssh"), dict) else {}
    defaults = ssh["defaults"] if isinstance(ssh.get("defaults"), dict) else {}
    default_user = py_str(get(defaults, "user"), "root") or "root"
    out: dict[str, tuple[str, str]] = {}
    for row in ssh["targets"] if isinstance(ssh.get("targets"), list) else []:
        if isinstance(row, dict) and py_str(get(row, "id")):
            out[py_str(get(row, "id"))] = (py_str(get(row, "host")), py_str(get(row, "user")) or default_user)
    return out


def _ssh_hosts(ssh_config: Path | None) -> dict[str, tuple[str, str]]:
    """Return primary Host alias -> (HostName so far, User) for blocks that have a User line."""
    if ssh_config is None or not ssh_config.is_file():
        return {}
    out: dict[str, tuple[str, str]] = {}
    primary = host = ""
    for raw in ssh_config.read_text(encoding="utf-8", errors="ignore").splitlines():
        line = raw.strip()
        if line.startswith("Host "):
            parts = line.split()
            if len(parts) >= 2:
                primary, host = parts[1], ""
            continue
        if not primary:
            continue
        if line.startswith("HostName "):
            host = line.split(None, 1)[1].strip()
        elif line.startswith("User "):
            out[primary] = (host, line.split(None, 1)[1].strip())
    return out


def _ssh_parity(
    contract: Contract, on: Any, cfg: str, targets: dict[str, tuple[str, str]], hosts: dict[str, tuple[str, str]]
) -> None:
    """Record the three SSH parity checks' violations."""
    add = contract.violations.append
    if on("spine_id_present_as_primary_host"):
        for sid in sorted(targets):
            path = f"{cfg}::missing-primary-host/{sid}"
            if sid not in hosts and path not in contract.excepted:
                add((path, f"spine target id '{sid}' missing as primary Host alias"))
    if on("no_untracked_primary_hosts"):
        for alias in sorted(hosts):
            path = f"{cfg}::extra-primary-host/{alias}"
            if alias not in targets and path not in contract.excepted:
                add((path, f"primary Host alias '{alias}' not present in spine ssh.targets"))
    if on("host_user_parity"):
        for sid, (want_host, want_user) in sorted(targets.items()):
            if sid not in hosts:
                continue
            got_host, got_user = hosts[sid]
            parts = [f"host expected '{want_host}' got '{got_host}'"] if got_host != want_host else []
            parts += [f"user expected '{want_user}' got '{got_user}'"] if got_user != want_user else []
            path = f"{cfg}::host-user-mismatch/{sid}"
            if parts and path not in contract.excepted:
                add((path, "; ".join(parts)))


@native_gate("D164", reads=())
def check_workbench_ssh_runtime(c: ContractView) -> Iterator[Finding]:
    """Checks that governed workbench runbooks hold no root@/ubuntu@/automation@ tokens (ops D164)."""
    yield from _run_checks(
        c, "workbench.ssh.runtime.surface.contract.yaml", {"forbidden_runtime_userhost_tokens": Contract.scan}
    )


@native_gate("D165", reads=())
def check_workbench_secrets_onboarding(c: ContractView) -> Iterator[Finding]:
    """Checks the workbench's secrets onboarding scripts and inventory for forbidden patterns and open issues (ops D165)."""
    yield from _run_checks(
        c,
        "workbench.secrets.onboarding.contract.yaml",
        {"no_open_high_critical_inventory_issues": _inventory},
        otherwise=Contract.scan,
    )


def _inventory(contract: Contract, check_id: str, check: dict[Any, Any]) -> None:
    """Record open HIGH/CRITICAL issues of the workbench's secrets inventory."""
    rel = py_str(get(check, "inventory_file"))
    path = _governed(contract, rel, check_id, f"check {check_id} missing inventory_file")
    if path is None:
        return
    target = contract.workbench / rel
    if not target.is_file():
        contract.violations.append((path, f"inventory file missing: {contract.workbench_shown}/{rel}"))
        return
    try:
        payload = json.loads(target.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        contract.violations.append((path, f"invalid JSON: {exc}"))
        return
    if not isinstance(payload, dict):
        # The ops snippet crashes on a non-object root; a violation says why.
        contract.violations.append((path, "invalid JSON: the root is not an object"))
        return
    severities = {py_str(s).upper() for s in _seq(check.get("severities")) or ["HIGH", "CRITICAL"]}
    issues = _seq(payload.get("known_issues"))
    open_ids = [
        py_str(get(i, "id"), "unknown") or "unknown"
        for i in issues
        if isinstance(i, dict)
        and py_str(get(i, "severity")).upper() in severities
        and py_str(get(i, "status")).lower() != "resolved"
    ]
    if open_ids:
        contract.violations.append(
            (path, f"open HIGH/CRITICAL issues present: {len(open_ids)} ({', '.join(open_ids[:4])})")
        )


@native_gate("D166", reads=())
def check_workbench_deploy_method(c: ContractView) -> Iterator[Finding]:
    """Checks that docker-host deploys use the canonical method and scripts run no direct docker lifecycle (ops D166)."""
    yield from _run_checks(
        c,
        "workbench.deploy.method.surface.contract.yaml",
        {
            "docker_host_canonical_method_declared": _deploy_method,
            "no_direct_docker_lifecycle_for_docker_host": partial(Contract.scan, skip_comments=True),
        },
    )


def _deploy_method(contract: Contract, check_id: str, check: dict[Any, Any]) -> None:
    """Record whether deploy.method.contract declares only the required method for the target."""
    rel = py_str(get(contract.data, "deploy_method_contract"))
    path = _governed(contract, rel, check_id, "contract missing deploy_method_contract")
    if path is None:
        return
    target_file = contract.r.path(rel)
    if not target_file.is_file():
        contract.violations.append((path, "deploy method contract missing"))
        return
    data, bad = _mapping(contract.r, target_file)
    if data is None:
        contract.violations.append((path, f"invalid deploy method contract YAML: {bad[0].message}"))
        return
    target = py_str(get(check, "target"), "docker-host") or "docker-host"
    required = py_str(get(check, "required_method"), "docker_compose") or "docker_compose"
    entries = _seq(data.get("entries"))
    methods = {
        py_str(get(e, "method"))
        for e in entries
        if isinstance(e, dict) and py_str(get(e, "target")) == target and py_str(get(e, "method"))
    }
    if not methods:
        contract.violations.append((path, f"target '{target}' has no entries in deploy.method.contract"))
    elif methods != {required}:
        contract.violations.append(
            (path, f"target '{target}' uses non-canonical methods: {', '.join(sorted(methods))}")
        )
