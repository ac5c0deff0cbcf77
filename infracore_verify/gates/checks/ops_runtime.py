"""Ported ops gates on the runtime surfaces: D297 launchd parity, D330 execution topology, D347/D348 bootstrap.

D297 reads plists with plistlib instead of macOS's PlistBuddy, so it gives a verdict on any OS. D348
reimplements the checks of the helpers it runs (spine-init --dry-run, spine-doctor): where the ops script
would exit without its verdict line, the port fails as a gate bug naming the helper.
"""

from __future__ import annotations

import plistlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infracore_verify.contracts.findings import Finding
from infracore_verify.contracts.loader import Document
from infracore_verify.gates.checks.base import ContractView, native_gate
from infracore_verify.gates.checks.ops_common import (
    GateBugError,
    OpsRepo,
    as_items,
    get,
    repo,
    yq_alt,
    yq_length,
    yq_text,
    yq_truthy,
)

# --- D297 ---------------------------------------------------------------------------------------------

RUNTIME = "ops/runtime"
LAUNCHD = "ops/runtime/launchd"
SCHEDULER = "ops/bindings/launchd.scheduler.registry.yaml"
BASH_SHEBANG = re.compile(r"bash$|bash ")
BASH4_ONLY = re.compile(
    r"\b(mapfile|readarray)\b|\$\{[^}]*,,[^}]*\}|\$\{[^}]*\^\^[^}]*\}|\$\{[^}]*@Q\}|\bdeclare\s+-A\b|\bcoproc\b"
)


def _plist_label(path: Path) -> str:
    """Return the plist's Label as PlistBuddy prints it, or '' when absent or unreadable."""
    try:
        with path.open("rb") as fh:
            data = plistlib.load(fh)
    except (OSError, ValueError, plistlib.InvalidFileException):
        return ""
    label = data.get("Label") if isinstance(data, dict) else None
    if label is None:
        return ""
    return ("true" if label else "false") if isinstance(label, bool) else str(label)


@native_gate("D297", reads=())
def check_runtime_script_registry_parity(c: ContractView) -> Iterator[Finding]:
    """Checks that each ops/runtime/*.sh has a launchd plist and scheduler entry with its label, and bash 3.2 syntax (ops D297)."""
    r = repo(c)
    for rel, what in ((RUNTIME, "runtime dir"), (LAUNCHD, "launchd dir"), (SCHEDULER, "scheduler registry")):
        path = r.path(rel)
        if not (path.is_dir() if what.endswith("dir") else path.is_file()):
            yield r.file_finding(path, f"missing {what}: {rel}", f"restore {rel}")
            return
    registry = r.load(SCHEDULER)
    if registry.errors:
        yield from registry.errors
        return
    scripts = sorted(p for p in r.path(RUNTIME).glob("*.sh") if p.is_file())
    if not scripts:
        yield r.file_finding(
            r.path(RUNTIME), f"no runtime scripts found under {r.path(RUNTIME)}", "add the runtime scripts"
        )
        return
    labels = as_items(get(registry.data, "labels"))
    for script in scripts:
        base = script.name.removesuffix(".sh")
        label = f"com.ronny.{base}"
        rel = f"{LAUNCHD}/{label}.plist"
        plist = r.path(rel)
        if not plist.is_file():
            yield r.file_finding(
                script, f"missing plist template for runtime script {RUNTIME}/{base}.sh -> {rel}", f"add {rel}"
            )
            continue
        actual = _plist_label(plist)
        if actual != label:
            yield r.file_finding(
                plist,
                f"plist label mismatch for {rel} (expected={label}, actual={actual or 'missing'})",
                f"set Label to {label}",
            )
        paths = [yq_text(get(e, "template_path")) for e in labels if isinstance(e, dict) and get(e, "label") == label]
        found = "\n".join(paths)
        if found in ("", "null"):
            yield registry.finding(
                ("labels",),
                f"scheduler registry missing label entry for {label}",
                f"add {{label: {label}, template_path: {rel}}}",
            )
        elif found != rel:
            yield registry.finding(
                ("labels",),
                f"scheduler registry template mismatch for {label} (expected={rel}, actual={found.replace(chr(10), ',')})",
                f"set template_path: {rel} (once)",
            )
        yield from _bash_compat(r, script)


def _bash_compat(r: OpsRepo, script: Path) -> Iterator[Finding]:
    """Yield the first bash-4-only line of a bash script (comments count, as in the ops gate)."""
    lines = script.read_text(encoding="utf-8", errors="replace").splitlines()
    if not lines or not BASH_SHEBANG.search(lines[0]):
        return
    for number, line in enumerate(lines, start=1):
        if BASH4_ONLY.search(line):
            yield r.file_finding(
                script,
                f"bash3.2-incompatible syntax in {r.display(script)} -> {number}:{line}",
                "rewrite it for bash 3.2",
                number,
            )
            return


# --- D330 ---------------------------------------------------------------------------------------------

HORIZON = "ops/bindings/planning.horizon.contract.yaml"
SCOPES = "mailroom/state/loop-scopes"
TEMPLATE = "ops/plugins/lifecycle/templates/loop-scope.template.md"


def _fenced(text: str) -> list[str]:
    """Return the lines inside every `---`..`---` range (sed's `/^---$/,/^---$/p`, delimiters included)."""
    out: list[str] = []
    inside = False
    for line in text.split("\n"):
        if inside or line == "---":
            out.append(line)
            inside = not inside if line == "---" else inside
    return out


@native_gate("D330", reads=())
def check_execution_topology(c: ContractView) -> Iterator[Finding]:
    """Checks the planning horizon's execution modes and that active/open/draft loop scopes declare execution_mode (ops D330)."""
    r = repo(c)
    if (missing := r.first_missing([HORIZON], "missing contract: {rel}")) is not None:
        yield missing
        return
    if not r.path(SCOPES).is_dir():
        yield r.file_finding(SCOPES, f"missing scopes dir: {SCOPES}", f"create {SCOPES}")
        return
    doc = r.load(HORIZON)
    if doc.errors:
        # The ops gate's yq fails, its value falls back to 0 and the mode count fails: the same verdict.
        yield from (
            Finding(
                e.file,
                e.line,
                e.path,
                f"contract must declare at least 2 execution_modes (found 0): {e.message}",
                e.fix,
            )
            for e in doc.errors
        )
        return
    modes = yq_length(get(doc.data, "execution_modes"))
    if modes < 2:
        yield doc.finding(
            ("execution_modes",),
            f"contract must declare at least 2 execution_modes (found {modes})",
            "list the execution modes",
        )
        return
    default = get(doc.data, "default_execution_mode")
    if yq_text(default) == "null":
        yield doc.finding((), "contract missing default_execution_mode", "set default_execution_mode")
        return
    if yq_text(get(doc.data, "scope_fields", "execution_mode", "type")) == "null":
        yield doc.finding(
            ("scope_fields",),
            "contract scope_fields missing execution_mode definition",
            "define scope_fields.execution_mode.type",
        )
        return
    template = r.path(TEMPLATE)
    if template.is_file() and "execution_mode:" not in template.read_text(encoding="utf-8", errors="replace"):
        yield r.file_finding(
            template, "loop scope template missing execution_mode field", "add execution_mode: to the template"
        )
        return
    for scope in sorted(p for p in r.path(SCOPES).glob("*.scope.md") if p.is_file()):
        fenced = _fenced(scope.read_text(encoding="utf-8", errors="replace"))
        status_line = next((line for line in fenced if line.startswith("status:")), "")
        fields = status_line.split()
        if len(fields) < 2 or fields[1] not in ("active", "open", "draft"):
            continue
        if not any(line.startswith("execution_mode:") for line in fenced):
            yield r.file_finding(
                scope,
                f"{SCOPES}/{scope.name} missing execution_mode field (status {fields[1]})",
                "add execution_mode: <mode> to the scope's frontmatter",
            )


# --- D347 and D348 ------------------------------------------------------------------------------------

BOOTSTRAP = "ops/bindings/runtime.bootstrap.contract.yaml"
SPINE_INIT = "ops/plugins/session/bin/spine-init"
SPINE_DOCTOR = "ops/plugins/session/bin/spine-doctor"
TENANT = "ops/bindings/tenant.profile.yaml"
TENANT_SCHEMA = "ops/bindings/tenant.profile.schema.yaml"
PATH_BASELINE = "ops/bindings/runtime.path.inventory.baseline.yaml"
PRESETS = "ops/bindings/policy.presets.yaml"
TENANT_VALIDATE = "ops/plugins/tenant/bin/tenant-profile-validate"
VALIDATE_ENV = "ops/plugins/aof/bin/validate-environment.sh"
KEBAB = re.compile(r"[a-z0-9-]+")


@native_gate("D347", reads=())
def check_bootstrap_hardcoded_paths(c: ContractView) -> Iterator[Finding]:
    """Checks that spine-init and spine-doctor contain none of the contract's prohibited host path literals (ops D347)."""
    r = repo(c)
    if (missing := r.first_missing([BOOTSTRAP], "missing contract: {rel}")) is not None:
        yield missing
        return
    for rel in (SPINE_INIT, SPINE_DOCTOR):
        if not (r.path(rel).is_file() and r.executable(rel)):
            yield r.file_finding(
                rel, f"missing/non-executable script: {r.path(rel)}", f"restore {rel} and make it executable"
            )
            return
    doc = r.load(BOOTSTRAP)
    if doc.errors:
        yield from doc.errors  # the ops gate swallows this yq error and then fails on an empty list
        return
    literals = [
        yq_text(v)
        for v in as_items(get(doc.data, "path_abstraction_policy", "prohibited_literals_for_new_runtime_writes"))
    ]
    if not literals:
        yield doc.finding(
            ("path_abstraction_policy",),
            "contract missing prohibited path literals list",
            "list prohibited_literals_for_new_runtime_writes",
        )
        return
    texts = {
        rel: r.path(rel).read_text(encoding="utf-8", errors="replace").splitlines()
        for rel in (SPINE_INIT, SPINE_DOCTOR)
    }
    for literal in literals:
        if literal in ("", "null"):
            continue
        # A fixed-string search; the ops gate passes a literal starting with '-' to rg as an option (fixed here).
        hits = [(rel, n) for rel, lines in texts.items() for n, line in enumerate(lines, start=1) if literal in line]
        if hits:
            rel, number = hits[0]
            where = ", ".join(f"{h}:{n}" for h, n in hits)
            yield r.file_finding(
                rel,
                f"literal detected in bootstrap entrypoints: {literal} ({where})",
                "resolve the path at run time instead",
                number,
            )


@native_gate("D348", reads=())
def check_bootstrap_reproducibility(c: ContractView) -> Iterator[Finding]:
    """Checks that spine-init --dry-run and spine-doctor succeed on the repository's bootstrap files (ops D348)."""
    r = repo(c)
    for rel in (SPINE_INIT, SPINE_DOCTOR):
        if not (r.path(rel).is_file() and r.executable(rel)):
            yield r.file_finding(rel, f"missing executable: {rel}", f"restore {rel} and make it executable")
            return
    init = list(_spine_init_problems(r))
    if init:
        raise GateBugError(f"helper {SPINE_INIT} --dry-run would exit non-zero, so D348 prints no verdict", init)
    doctor = list(_doctor_problems(r))
    if doctor:
        raise GateBugError(f"helper {SPINE_DOCTOR} --json would exit 1, so D348 prints no verdict", doctor)
    # A pure read: the dry-run is deterministic and mutation-free by construction.


def _value(r: OpsRepo, rel: str, *keys: str) -> tuple[Any, list[Finding]]:
    """Return (`yq '.<keys> // ""'` of a repository file, load problems)."""
    doc = r.load(rel)
    if doc.errors:
        return "", doc.errors
    return yq_alt(get(doc.data, *keys), ""), []


def _spine_init_problems(r: OpsRepo) -> Iterator[Finding]:
    """Yield why `spine-init --dry-run` would exit non-zero (tools aside)."""
    if (missing := r.first_missing((BOOTSTRAP, TENANT), "spine-init: required file missing: {rel}")) is not None:
        yield missing
        return
    name = ""
    if r.path(".environment.yaml").is_file():
        value, bad = _value(r, ".environment.yaml", "environment", "name")
        if bad:
            yield from bad
            return
        name = yq_text(value) if value != "" else ""
    if not name:
        value, bad = _value(r, TENANT, "identity", "tenant_id")
        if bad:
            yield from bad
            return
        name = yq_text(value) if value != "" else ""
    if name and not KEBAB.fullmatch(name):
        yield r.file_finding(
            ".environment.yaml",
            f"spine-init: resolved environment name is invalid: {name}",
            "use lower-case letters, digits and '-'",
        )
        return
    present = [f for f in (".environment.yaml", ".identity.yaml") if r.path(f).is_file()]
    if len(present) == 1:
        yield r.file_finding(
            present[0],
            "spine-init: partial bootstrap state detected (.environment/.identity mismatch)",
            "add the other file or remove this one",
        )


def _doctor_problems(r: OpsRepo) -> Iterator[Finding]:
    """Yield spine-doctor's failures (its tool checks aside: the port needs none of those tools)."""
    for rel in (BOOTSTRAP, PATH_BASELINE, TENANT, TENANT_SCHEMA):
        if not r.path(rel).is_file():
            yield r.file_finding(rel, f"spine-doctor: file missing: {rel}", f"restore {rel}")
    if r.path(TENANT).is_file() and r.path(TENANT_SCHEMA).is_file():
        problems = list(_tenant_problems(r))
        if problems:
            yield from (
                Finding(p.file, p.line, p.path, f"spine-doctor: tenant profile validation failed: {p.message}", p.fix)
                for p in problems
            )
    env, ident = r.path(".environment.yaml").is_file(), r.path(".identity.yaml").is_file()
    if env and ident:
        problems = list(_environment_problems(r))
        yield from (
            Finding(
                p.file, p.line, p.path, f"spine-doctor: environment + identity validation failed: {p.message}", p.fix
            )
            for p in problems
        )
    elif env or ident:
        yield r.file_finding(
            ".environment.yaml" if env else ".identity.yaml",
            "spine-doctor: partial bootstrap state detected (.environment/.identity mismatch)",
        )


def _tenant_problems(r: OpsRepo) -> Iterator[Finding]:
    """Yield tenant-profile-validate's errors on ops/bindings/tenant.profile.yaml."""
    if not r.executable(TENANT_VALIDATE):
        yield r.file_finding(TENANT_VALIDATE, f"{TENANT_VALIDATE} is missing or not executable", "restore it")
        return
    doc = r.load(TENANT)
    if doc.errors:
        yield from doc.errors
        return
    data = doc.data

    def text(*keys: str) -> str:
        value = yq_alt(get(data, *keys), "")
        return yq_text(value) if value != "" else ""

    def err(keys: tuple[str, ...], message: str) -> Finding:
        return doc.finding(keys, message, "fix the tenant profile")

    required_sections = ("identity", "secrets", "policy", "runtime", "surfaces", "evidence")
    for section in required_sections:
        if not yq_truthy(get(data, section)):
            yield err((section,), f"{section} section is required")
    if yq_truthy(get(data, "identity")):
        tid = text("identity", "tenant_id")
        if not tid or not any(re.fullmatch(r"[a-z][a-z0-9-]{2,63}", line) for line in tid.split("\n")):
            yield err(
                ("identity", "tenant_id"),
                f"identity.tenant_id '{tid}' is required and must match ^[a-z][a-z0-9-]{{2,63}}$",
            )
        for key in ("owner", "created_at"):
            if not text("identity", key):
                yield err(("identity", key), f"identity.{key} is required")
    if yq_truthy(get(data, "secrets")):
        if text("secrets", "provider") not in ("infisical", "vault", "env-file", "none"):
            yield err(
                ("secrets", "provider"),
                f"secrets.provider '{text('secrets', 'provider')}' not in enum [infisical, vault, env-file, none]",
            )
        if text("secrets", "environment") not in ("prod", "staging", "dev"):
            yield err(
                ("secrets", "environment"),
                f"secrets.environment '{text('secrets', 'environment')}' not in enum [prod, staging, dev]",
            )
    yield from _tenant_rest(r, doc, data)


def _tenant_rest(r: OpsRepo, doc: Document, data: Any) -> Iterator[Finding]:
    """Yield tenant-profile-validate's errors in the policy, runtime, surfaces and evidence sections."""

    def text(*keys: str) -> str:
        value = yq_alt(get(data, *keys), "")
        return yq_text(value) if value != "" else ""

    def err(keys: tuple[str, ...], message: str) -> Finding:
        return doc.finding(keys, message, "fix the tenant profile")

    if yq_truthy(get(data, "policy")):
        yield from (err(("policy", "preset"), m) for m in _preset_problems(r, text("policy", "preset")))
    if yq_truthy(get(data, "runtime")):
        if not text("runtime", "spine_root").startswith("/"):
            yield err(
                ("runtime", "spine_root"),
                f"runtime.spine_root must be an absolute path (got: {text('runtime', 'spine_root')})",
            )
        if not text("runtime", "git_remote_primary"):
            yield err(("runtime", "git_remote_primary"), "runtime.git_remote_primary is required")
        if not re.search(r"^[A-Z][a-zA-Z_]+/[A-Za-z_]+", text("runtime", "timezone"), re.MULTILINE):
            yield err(
                ("runtime", "timezone"), f"runtime.timezone '{text('runtime', 'timezone')}' is not an IANA timezone"
            )
    if yq_truthy(get(data, "surfaces")):
        if yq_length(get(data, "surfaces", "agents")) == 0:
            yield err(("surfaces", "agents"), "surfaces.agents must contain at least one entry")
        if not text("surfaces", "slash_commands"):
            yield err(
                ("surfaces", "slash_commands"), "surfaces.slash_commands is required (yq's // reads false as missing)"
            )
    if yq_truthy(get(data, "evidence")):
        for key in ("receipts_enabled", "ledger_path", "session_closeout_sla_hours"):
            if not text("evidence", key):
                yield err(("evidence", key), f"evidence.{key} is required (yq's // reads false as missing)")


def _preset_problems(r: OpsRepo, preset: str) -> list[str]:
    """Return the tenant policy.preset problems: the enum and its entry in policy.presets.yaml."""
    if preset not in ("strict", "balanced", "permissive"):
        return [f"policy.preset '{preset}' not in enum [strict, balanced, permissive]"]
    if r.path(PRESETS).is_file():
        doc = r.load(PRESETS)
        if doc.errors or not yq_truthy(get(doc.data, "presets", preset)):
            return [f"policy.preset '{preset}' not found in policy.presets.yaml"]
    return []


def _environment_problems(r: OpsRepo) -> Iterator[Finding]:
    """Yield validate-environment.sh's errors on .environment.yaml and .identity.yaml."""
    if not r.executable(VALIDATE_ENV):
        yield r.file_finding(VALIDATE_ENV, f"{VALIDATE_ENV} is missing or not executable", "restore it")
        return
    env, ident = r.load(".environment.yaml"), r.load(".identity.yaml")
    if env.errors or ident.errors:
        yield from env.errors + ident.errors
        return
    name = yq_text(yq_alt(get(env.data, "environment", "name"), ""))
    if not KEBAB.fullmatch(name):
        yield env.finding(
            ("environment", "name"),
            f"environment.name '{name}' is not kebab-case",
            "use lower-case letters, digits and '-'",
        )
    tier = yq_text(yq_alt(get(env.data, "environment", "tier"), ""))
    if tier not in ("production", "product", "lab", "minimal", "ephemeral"):
        yield env.finding(
            ("environment", "tier"),
            f"environment.tier '{tier}' not in [production, product, lab, minimal, ephemeral]",
            "set a known tier",
        )
    node = yq_text(yq_alt(get(ident.data, "identity", "node_id"), ""))
    if not KEBAB.fullmatch(node):
        yield ident.finding(
            ("identity", "node_id"),
            f"identity.node_id '{node}' is not kebab-case",
            "use lower-case letters, digits and '-'",
        )
