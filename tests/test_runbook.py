"""docs/runbook.md covers every gate, probe and recovery action of the contracts and every failure class."""

from __future__ import annotations

import inspect
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from infracore_verify.contracts.sets import BUNDLED_CONTRACTS, SUITE_ROOT
from infracore_verify.gates.classify import Classifier

RUNBOOK = SUITE_ROOT / "docs" / "runbook.md"

SYSTEMS = ("cloudflare", "vaultwarden", "infisical", "authentik")
"""The baseline systems; each has a top-level runbook section whose anchor is the system name."""
ALL_SYSTEMS = "all-systems"
CONTRACT_GATES = "contract-gates"
FAILURE_CLASSES = "failure-classes"
GATE_CLASS_TABLE = "gate-failure-classes"
PROBE_CLASS_TABLE = "probe-failure-classes"

SECTION_ANCHORS = (
    "using-this-runbook",
    "how-to-run",
    "run-one-gate",
    "run-system-probes",
    "run-a-recovery",
    "recovery-results",
    FAILURE_CLASSES,
    GATE_CLASS_TABLE,
    PROBE_CLASS_TABLE,
    *SYSTEMS,
    ALL_SYSTEMS,
    CONTRACT_GATES,
)
"""The runbook's own section anchors (not gate, probe or action ids)."""

ANNOUNCED_IDS = ("D907", "infra.core.drift")
"""Ids the runbook documents ahead of the contracts (the live drift gate and its probe, being added); their
anchors are required and allowed whether or not the contracts hold them yet."""

GATE_CLASSES = ("deterministic", "freshness", "gate_bug", "waiver_expired")
"""Gate failure classes: infracore_verify/classify.py plus the waiver outcome (README "What a gate does")."""
PROBE_CLASSES = (
    "token_invalid",
    "rate_limited",
    "network_error",
    "timeout",
    "api_error",
    "parse_error",
    "http_<code>",
    "schema_drift",
    "inventory_drift",
    "status_drift",
    "latency_incident",
    "setup_error",
    "no_token",
    "unhealthy",
    "gate_bug",
)
"""Probe and client failure classes: the clients/http.py table, smoke/probes.py and the README."""

PYTEST_CORE_OPTIONS = frozenset({"--alluredir"})
"""Long options of pytest and its plugins (not the suite's) that runbook commands may use."""

_ANCHOR = re.compile(r'<a id="([^"]*)"></a>')
_HEADING = re.compile(r"^(#{1,6}) (.+)$")
_TABLE_KEY = re.compile(r"^\| `([^`]+)` \|")
_IN_PAGE_LINK = re.compile(r"\]\(#([^)]+)\)")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
_SECRET_PATTERNS: dict[str, re.Pattern[str]] = {
    "a JSON Web Token": re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    "a private key block": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "an Infisical service token": re.compile(r"\bst\.[A-Za-z0-9-]{8,}\.[A-Za-z0-9]{8,}"),
    "a long hex string (a Global API Key or an id)": re.compile(r"\b[0-9a-fA-F]{32,}\b"),
    "a literal bearer credential": re.compile(r"\bBearer\s+(?![<$])[A-Za-z0-9._~+/=-]{12,}"),
    "a literal auth header value": re.compile(r"\bX-Auth-Key:\s*(?![<$\s])\S+"),
    "a literal secret assignment": re.compile(
        r"\b[A-Za-z_]*(?:TOKEN|SECRET|PASSWORD|API_KEY)\s*=\s*[\"']?(?![<$\"'{\s])[^\s\"'`]{6,}", re.IGNORECASE
    ),
}
_MIXED_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,}")


@dataclass(frozen=True)
class Anchor:
    """One `<a id>` anchor of the runbook: its line, the heading after it and the top-level section it is in."""

    id: str
    line: int
    heading: str | None
    heading_line: int
    level: int
    section: str | None


@dataclass(frozen=True)
class Runbook:
    """The parsed runbook: its lines (code fences marked), anchors and in-page links."""

    text: str
    lines: tuple[str, ...]
    in_code: tuple[bool, ...]
    anchors: tuple[Anchor, ...]

    def anchored(self, anchor_id: str) -> list[Anchor]:
        """Return every anchor with this id."""
        return [a for a in self.anchors if a.id == anchor_id]

    def body(self, anchor_id: str) -> str:
        """Return the text of the anchor's section: from its heading to the next heading of its level or higher."""
        found = self.anchored(anchor_id)
        assert len(found) == 1, f'docs/runbook.md needs exactly one <a id="{anchor_id}"></a>, found {len(found)}'
        anchor = found[0]
        out: list[str] = []
        for number in range(anchor.heading_line + 1, len(self.lines)):
            match = _HEADING.match(self.lines[number])
            if match and not self.in_code[number] and len(match[1]) <= anchor.level:
                break
            out.append(self.lines[number])
        return "\n".join(out)

    def table_keys(self, anchor_id: str) -> set[str]:
        """Return the first-column keys (`| \\`key\\` |`) of the tables in the anchor's section."""
        return {m[1] for line in self.body(anchor_id).splitlines() if (m := _TABLE_KEY.match(line))}


@cache
def runbook() -> Runbook:
    """Parse docs/runbook.md once (anchors, the heading after each, the top-level section of each)."""
    text = RUNBOOK.read_text(encoding="utf-8")
    lines = tuple(text.splitlines())
    in_code: list[bool] = []
    fenced = False
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
            in_code.append(True)
        else:
            in_code.append(fenced)
    anchors: list[Anchor] = []
    section: str | None = None
    for number, line in enumerate(lines):
        for match in _ANCHOR.finditer(line):
            following = next((n for n in range(number + 1, len(lines)) if lines[n].strip()), None)
            heading = _HEADING.match(lines[following]) if following is not None and not in_code[following] else None
            own_line = line.strip() == match[0]
            level = len(heading[1]) if heading and own_line else 0
            if level == 2:
                section = match[1]
            anchors.append(
                Anchor(
                    match[1],
                    number,
                    heading[2] if heading and own_line else None,
                    following if heading and own_line and following is not None else number,
                    level,
                    section,
                )
            )
    return Runbook(text, lines, tuple(in_code), tuple(anchors))


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((BUNDLED_CONTRACTS / name).read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def _entries(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Target:
    """An id the runbook must document: a gate, a probe or a recovery action, and where its section belongs."""

    kind: str
    id: str
    heading_words: tuple[str, ...]
    sections: tuple[str, ...]

    @property
    def param_id(self) -> str:
        """Return the readable test id, e.g. `gate-D320`."""
        return f"{self.kind}-{self.id}"


def _gates() -> list[dict[str, Any]]:
    return _entries(_load("gate.registry.yaml").get("gates"))


def _baseline_systems() -> dict[str, dict[str, Any]]:
    return {str(k): _mapping(v) for k, v in _mapping(_load("infra.core.baseline.contract.yaml").get("systems")).items()}


def _actions() -> list[dict[str, Any]]:
    return _entries(_load("recovery.actions.yaml").get("actions"))


def _probe_systems() -> dict[str, str | None]:
    """Return probe id -> system: the baseline's smoke capabilities, then every live gate's probes."""
    probes: dict[str, str | None] = {}
    for system, entry in _baseline_systems().items():
        for probe in _mapping(entry.get("lifecycle_requirements")).get("smoke_capabilities") or []:
            probes[str(probe)] = system
    capabilities = _mapping(_load("capabilities.yaml").get("capabilities"))
    for gate in _gates():
        for probe in gate.get("probes") or []:
            probes.setdefault(str(probe), _mapping(capabilities.get(str(probe))).get("system"))
    return probes


def _gate_sections(gate: dict[str, Any]) -> tuple[str, ...]:
    systems = [str(s) for s in gate.get("systems") or []]
    if len(systems) == 1:
        return (systems[0], ALL_SYSTEMS)
    if gate.get("probes"):
        return (*SYSTEMS, ALL_SYSTEMS)
    return (CONTRACT_GATES,)


def _action_sections(action_id: str) -> tuple[str, ...]:
    for system, entry in _baseline_systems().items():
        if _mapping(entry.get("self_heal")).get("recovery_action_id") == action_id:
            return (system,)
    return (ALL_SYSTEMS,)


def targets() -> list[Target]:
    """Return every id the contracts (and the announced additions) require a runbook section for."""
    found: list[Target] = []
    for gate in _gates():
        if gate.get("retired") is True:
            continue
        found.append(Target("gate", str(gate["id"]), (str(gate["id"]), str(gate.get("name"))), _gate_sections(gate)))
    for probe, system in _probe_systems().items():
        found.append(Target("probe", probe, (probe,), (system, ALL_SYSTEMS) if system else (ALL_SYSTEMS,)))
    for action in _actions():
        action_id = str(action.get("id"))
        kind = str(_mapping(action.get("recovery")).get("type"))
        found.append(Target("action", action_id, (action_id, kind), _action_sections(action_id)))
    known = {t.id for t in found}
    for announced in ANNOUNCED_IDS:
        if announced not in known:
            kind = "gate" if re.fullmatch(r"D\d+", announced) else "probe"
            found.append(Target(kind, announced, (announced,), (ALL_SYSTEMS,)))
    return found


def trigger_links() -> list[tuple[str, str]]:
    """Return (trigger gate or probe id, action id) for every trigger of recovery.actions.yaml."""
    pairs: list[tuple[str, str]] = []
    for action in _actions():
        trigger = _mapping(action.get("trigger"))
        for trigger_id in [*(trigger.get("gate_ids") or []), *(trigger.get("probe_ids") or [])]:
            pairs.append((str(trigger_id), str(action.get("id"))))
    return pairs


TARGETS = targets()
TRIGGERS = trigger_links()
CLASS_ROWS = [(GATE_CLASS_TABLE, c) for c in GATE_CLASSES] + [(PROBE_CLASS_TABLE, c) for c in PROBE_CLASSES]


@pytest.mark.parametrize("target", TARGETS, ids=[t.param_id for t in TARGETS])
def test_id_has_one_anchored_section(target: Target) -> None:
    """Gives every gate, probe and recovery action exactly one anchor, right before a heading naming it."""
    anchors = runbook().anchored(target.id)
    assert len(anchors) == 1, f'docs/runbook.md needs exactly one <a id="{target.id}"></a>, found {len(anchors)}'
    (anchor,) = anchors
    assert anchor.heading is not None, f"line {anchor.line + 1}: the anchor of {target.id} must precede a heading"
    for word in target.heading_words:
        assert word in anchor.heading, f"line {anchor.line + 1}: heading {anchor.heading!r} should name {word!r}"
    assert anchor.section in target.sections, (
        f"{target.id} is documented under #{anchor.section}; expected under one of "
        + ", ".join(f"#{s}" for s in target.sections)
    )


@pytest.mark.parametrize("anchor_id", SECTION_ANCHORS)
def test_section_anchor_precedes_a_heading(anchor_id: str) -> None:
    """Keeps each of the runbook's own section anchors once, right before its heading."""
    anchors = runbook().anchored(anchor_id)
    assert len(anchors) == 1, f'docs/runbook.md needs exactly one <a id="{anchor_id}"></a>, found {len(anchors)}'
    assert anchors[0].heading is not None, f"the anchor {anchor_id} must precede a heading"


def test_every_anchor_names_a_known_id() -> None:
    """Allows anchors only for registered gates (active or retired), probes, actions and the fixed sections."""
    known = {str(g.get("id")) for g in _gates()} | {t.id for t in TARGETS} | set(SECTION_ANCHORS)
    unknown = [f"line {a.line + 1}: {a.id}" for a in runbook().anchors if a.id not in known]
    assert unknown == [], "anchors for ids the contracts do not know (renamed or removed?): " + "; ".join(unknown)


def test_every_anchor_is_unique_and_precedes_a_heading() -> None:
    """Puts every anchor on its own line before a heading, and never repeats an id."""
    seen: dict[str, int] = {}
    problems: list[str] = []
    for anchor in runbook().anchors:
        if anchor.heading is None:
            problems.append(f"line {anchor.line + 1}: {anchor.id} is not on its own line before a heading")
        if anchor.id in seen:
            problems.append(f"line {anchor.line + 1}: {anchor.id} repeats the anchor of line {seen[anchor.id] + 1}")
        seen.setdefault(anchor.id, anchor.line)
    assert problems == []


@pytest.mark.parametrize(
    ("trigger_id", "action_id"), TRIGGERS, ids=[f"{trigger}->{action}" for trigger, action in TRIGGERS]
)
def test_trigger_section_links_its_recovery_action(trigger_id: str, action_id: str) -> None:
    """Links each trigger gate or probe to its recovery action, and names the trigger in the action's section."""
    book = runbook()
    assert f"](#{action_id})" in book.body(trigger_id), f"the section of {trigger_id} should link #{action_id}"
    assert trigger_id in book.body(action_id), f"the section of {action_id} should name its trigger {trigger_id}"


@pytest.mark.parametrize(("table", "failure_class"), CLASS_ROWS, ids=[f"{t.split('-')[0]}-{c}" for t, c in CLASS_ROWS])
def test_failure_class_has_a_row(table: str, failure_class: str) -> None:
    """Gives every failure class a row (`| \\`class\\` | ...`) in its Failure classes table."""
    assert runbook().anchored(table)[0].section == FAILURE_CLASSES
    assert failure_class in runbook().table_keys(table), f"#{table} has no row for `{failure_class}`"


def _http_docstring_classes() -> set[str]:
    import infracore_verify.clients.http

    doc = infracore_verify.clients.http.__doc__ or ""
    block = doc.split("Failure classes", 1)[1].split("Retry policy", 1)[0]
    return {m[1] for m in re.finditer(r"^ {4}([a-z_<>]+) {2,}", block, re.MULTILINE)}


_CLIENT_CLASS_PATTERNS = (
    r'ProbeFailure\(\s*"([a-z0-9_]+)"',
    r"\[class ([a-z0-9_]+)\]",
    r'(?<!verdict, )failure_class\s*=\s*"([a-z0-9_]+)"',
    r'\bfailure\s*:\s*str \| None\s*=\s*"([a-z0-9_]+)"',
    r'failure_class, result\.detail = "([a-z0-9_]+)"',
    r'ProbeFailure\(\s*[\w.]+ or "([a-z0-9_]+)"',
    r'return "([a-z0-9_]+)", ',
    r'"([a-z0-9_]+)" if _is_timeout',
    r'if _is_timeout\(exc\) else "([a-z0-9_]+)"',
    r'verdict, failure_class = "fail", "([a-z0-9_]+)"',
    r'"unknown", "fail", "([a-z0-9_]+)"',
)
_CLIENT_MODULES = (
    "clients/http",
    "clients/cloudflare",
    "clients/vaultwarden",
    "clients/infisical",
    "clients/authentik",
    "smoke/context",
    "smoke/probes",
    "smoke/probes_cloudflare",
    "smoke/probes_vaultwarden",
    "smoke/probes_infisical",
    "smoke/probes_authentik",
    "smoke/probes_drift",
    "smoke/runner",
)


def code_classes() -> Iterator[tuple[str, str]]:
    """Yield (class, where) for every failure class literal the clients, probes and classifier produce."""
    for name in _CLIENT_MODULES:
        path = SUITE_ROOT / "infracore_verify" / f"{name}.py"
        source = path.read_text(encoding="utf-8")
        for pattern in _CLIENT_CLASS_PATTERNS:
            for match in re.finditer(pattern, source):
                yield re.sub(r"^http_\d+$", "http_<code>", match[1]), f"infracore_verify/{name}.py"
        if re.search(r'f"http_\{', source):
            yield "http_<code>", f"infracore_verify/{name}.py"
    for found in _http_docstring_classes():
        yield found, "infracore_verify/clients/http.py docstring"
    for literal in re.findall(r'"([a-z_]+)"', inspect.getsource(Classifier.classify)):
        yield literal, "infracore_verify/gates/classify.py"
    report = (SUITE_ROOT / "infracore_verify" / "reporting" / "allure.py").read_text(encoding="utf-8")
    for literal in re.findall(r'"failure_class",\s*"([a-z0-9_]+)"', report):
        yield literal, "infracore_verify/reporting/allure.py"


def test_classes_in_code_are_in_the_runbook_tables() -> None:
    """Keeps the fixed class lists complete: every class the code produces is listed and has a runbook row."""
    collected = list(code_classes())
    assert {"token_invalid", "http_<code>", "gate_bug", "deterministic"} <= {c for c, _ in collected}
    listed = set(GATE_CLASSES) | set(PROBE_CLASSES)
    missing = sorted({f"{c} ({where})" for c, where in collected if c not in listed})
    assert missing == [], "failure classes the code produces but the runbook does not explain: " + ", ".join(missing)


def test_in_page_links_resolve() -> None:
    """Points every in-page link (`](#id)`) at an anchor that exists."""
    anchors = {a.id for a in runbook().anchors}
    broken = sorted({target for target in _IN_PAGE_LINK.findall(runbook().text) if target not in anchors})
    assert broken == []


def _pytest_commands(book: Runbook) -> list[str]:
    commands = [line.strip() for line, code in zip(book.lines, book.in_code, strict=True) if code]
    commands = [c for c in commands if c.startswith("pytest ")]
    commands += re.findall(r"`(pytest [^`]*)`", book.text)
    return commands


def _suite_options() -> set[str]:
    options: set[str] = set()
    for path in (SUITE_ROOT / "infracore_verify").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        options |= set(re.findall(r'addoption\(\s*"(--[a-z][a-z-]*)"', source))
    return options


def test_runbook_commands_use_existing_options() -> None:
    """Uses only options the suite registers (or pytest's own) in every `pytest ...` command of the runbook."""
    commands = _pytest_commands(runbook())
    assert any("--gate" in c for c in commands)
    assert any("--recover" in c for c in commands)
    known = _suite_options() | PYTEST_CORE_OPTIONS
    assert {"--gate", "--probe", "--allow-recovery", "--recover", "--recovery-dry-run"} <= known
    used = {opt for command in commands for opt in re.findall(r"(?<!\S)(--[a-z][a-z-]*)", command)}
    assert sorted(used - known) == []


def private_addresses(text: str) -> list[str]:
    """Return every IPv4 literal in `text` that is not loopback (hosts are written as placeholders)."""
    found = []
    for literal in _IPV4.findall(text):
        try:
            address = ipaddress.IPv4Address(literal)
        except ValueError:
            continue
        if not address.is_loopback:
            found.append(literal)
    return found


def secret_like(text: str) -> list[str]:
    """Return what in `text` looks like a real credential (what kind, and where)."""
    found = [f"{what}: {m[0][:12]}..." for what, pattern in _SECRET_PATTERNS.items() for m in pattern.finditer(text)]
    for match in _MIXED_TOKEN.finditer(text):
        token = match[0]
        if re.search(r"\d", token) and re.search(r"[a-z]", token) and re.search(r"[A-Z]", token):
            found.append(f"a long mixed-case token: {token[:12]}...")
    return found


def test_runbook_holds_no_ip_address() -> None:
    """Names hosts only as placeholders: no private-range (or any non-loopback) IP address in the runbook."""
    assert private_addresses(runbook().text) == []


def test_runbook_holds_no_secret() -> None:
    """Holds no real-looking credential: commands read them from environment variables."""
    assert secret_like(runbook().text) == []


def _fake(*parts: str) -> str:
    """Join parts at run time, so this file holds no complete credential-shaped literal."""
    return "".join(parts)


FAKE_LEAKS = {
    "jwt": _fake("ey", "JhbGciOiJIUzI1NiJ9", ".", "eyJzdWIiOiJ4eHh4eHgifQ", ".sig"),
    "global-key": _fake("0123456789abcdef", "0123456789abcdef", "01234"),
    "bearer": _fake("curl -H 'Authorization: Bearer ", "abcDEF123456ghiJKL789", "'"),
    "assignment": _fake("CLOUDFLARE_API_", "TOKEN=", "Zx9", "Qw8Er7Ty6"),
    "mixed-token": _fake("aB3", "dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA"),
    "private-key": _fake("-----BEGIN OPENSSH ", "PRIVATE KEY-----"),
}
CLEAN_TEXTS = {
    "env-reference": 'curl -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" https://api.cloudflare.com/client/v4/zones',
    "placeholder": "X-Auth-Key: <global-api-key> and CLOUDFLARE_API_TOKEN=<api-token>",
    "secret-reference": 'api_token: {secret: "/infra-core/CLOUDFLARE_API_TOKEN"}',
    "gate-name": "D320 infra-core-baseline-contract-lock cloudflare.tunnel.ingress.status",
}


@pytest.mark.parametrize("text", FAKE_LEAKS.values(), ids=list(FAKE_LEAKS))
def test_secret_check_catches_a_leak(text: str) -> None:
    """Flags credential-shaped text, so a clean runbook result means something."""
    assert secret_like(text) != []


@pytest.mark.parametrize("text", CLEAN_TEXTS.values(), ids=list(CLEAN_TEXTS))
def test_secret_check_passes_references_and_placeholders(text: str) -> None:
    """Lets environment references, placeholders and ids through."""
    assert secret_like(text) == []


@pytest.mark.parametrize(
    ("text", "flagged"),
    [("10.1.2.3", True), ("172.20.0.5", True), ("192.168.1.20", True), ("100.64.0.1", True), ("127.0.0.1", False)],
    ids=["rfc1918-10", "rfc1918-172", "rfc1918-192", "cgnat", "loopback"],
)
def test_address_check_flags_private_ranges(text: str, flagged: bool) -> None:
    """Flags private-range addresses and lets loopback (the sandbox) through."""
    assert bool(private_addresses(f"host {text} here")) is flagged


def test_runbook_path_is_what_the_report_links() -> None:
    """Lives where the report's default runbook link points: docs/runbook.md of the checkout."""
    assert Path(RUNBOOK).is_file()
    from infracore_verify.reporting import allure as report

    default = getattr(report, "default_runbook_url", None)
    if default is not None:
        assert str(default()).endswith("docs/runbook.md#{id}")
