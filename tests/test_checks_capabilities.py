"""D63 capabilities metadata and D67 capability map parity on tiny capability files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_checks import Edit, OpenContracts, check_findings, gate_findings, write_contracts

CAPABILITIES = "capabilities.yaml"
CAPABILITY_MAP = "capability_map.yaml"
CAPS = f"contracts/{CAPABILITIES}"
CAPMAP = f"contracts/{CAPABILITY_MAP}"

CAPABILITY_FILES = {
    CAPABILITIES: """\
version: "1.0"
updated: "2026-11-26"
capabilities:
  secrets.binding: {description: Resolve credential references, command: pytest smoke -k secrets.binding, safety: read-only, approval: auto, outputs: [stdout]}
  secrets.auth.status: {description: Check the credentials, command: pytest smoke -k secrets.auth.status, safety: read-only, approval: auto, outputs: [stdout], requires: [secrets.binding]}
  cloudflare.zone.list: {description: List the zones, command: pytest smoke -k cloudflare.zone.list, safety: read-only, approval: auto, outputs: [stdout], touches_api: true, requires: [secrets.binding, secrets.auth.status]}
  alerting.dispatch: {description: Send an alert, command: ./bin/alert --oncall, safety: mutating, approval: manual, outputs: [stdout]}
""",
    CAPABILITY_MAP: """\
capabilities:
  secrets.binding: {plugin: secrets, script: secrets-binding, safety: read-only}
  secrets.auth.status: {plugin: secrets, script: secrets-auth-status, safety: read-only}
  cloudflare.zone.list: {plugin: cloudflare, script: cloudflare-zone-list, safety: read-only}
  alerting.dispatch: {plugin: alerting, script: alerting-dispatch, safety: mutating}
""",
}


def write_alert_command(root: Path, mode: int = 0o755) -> None:
    """Write the `./bin/alert` command of the tiny capability `alerting.dispatch` with the given mode."""
    path = root / "bin" / "alert"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\necho alert sent\n", encoding="utf-8")
    path.chmod(mode)


@pytest.mark.parametrize("gate_id", ["D63", "D67"])
def test_tiny_capabilities_pass(contracts_dir: Path, open_contracts: OpenContracts, gate_id: str) -> None:
    """The tiny capability registry and map pass both capability gates."""
    write_contracts(contracts_dir, CAPABILITY_FILES)
    write_alert_command(contracts_dir.parent)
    assert gate_findings(open_contracts(), gate_id) == []


# D63 capabilities metadata.

ZONE_LIST_REQUIRES = "touches_api: true, requires: [secrets.binding, secrets.auth.status]}"

D63_CASES = [
    pytest.param(
        [
            Edit(
                CAPABILITIES,
                "outputs: [stdout], requires: [secrets.binding]}",
                "outputs: [stdout], requires: [secrets.bindings]}",
            )
        ],
        [
            f"{CAPS}:5 $.capabilities['secrets.auth.status'].requires[0]: capability 'secrets.auth.status' requires "
            "unknown capability 'secrets.bindings' (did you mean 'secrets.binding'?); declare it or remove it from "
            "requires"
        ],
        id="unknown-requires",
    ),
    pytest.param(
        # The ops gate never looked for cycles.
        [
            Edit(
                CAPABILITIES,
                "approval: auto, outputs: [stdout]}\n",
                "approval: auto, outputs: [stdout], requires: [secrets.auth.status]}\n",
            )
        ],
        [
            f"{CAPS}:4 $.capabilities['secrets.binding'].requires: requires cycle: secrets.binding -> "
            "secrets.auth.status -> secrets.binding; remove one of these requires entries (preconditions must not loop)"
        ],
        id="requires-cycle",
    ),
    pytest.param(
        [
            Edit(
                CAPABILITIES,
                "approval: manual, outputs: [stdout]}",
                "approval: manual, outputs: [stdout], requires: [alerting.dispatch]}",
            )
        ],
        [
            f"{CAPS}:7 $.capabilities['alerting.dispatch'].requires: requires cycle: alerting.dispatch -> "
            "alerting.dispatch; remove one of these requires entries (preconditions must not loop)"
        ],
        id="requires-itself",
    ),
    pytest.param(
        [Edit(CAPABILITIES, ZONE_LIST_REQUIRES, "touches_api: true, requires: [secrets.binding]}")],
        [
            f"{CAPS}:6 $.capabilities['cloudflare.zone.list'].requires: capability 'cloudflare.zone.list' touches an "
            "API but does not require secrets.auth.status; add secrets.auth.status to requires"
        ],
        id="touches-api-without-auth-status",
    ),
    pytest.param(
        [Edit(CAPABILITIES, ZONE_LIST_REQUIRES, "touches_api: true}")],
        [
            f"{CAPS}:6 $.capabilities['cloudflare.zone.list']: capability 'cloudflare.zone.list' touches an API but "
            "does not require secrets.binding; add secrets.binding to requires",
            f"{CAPS}:6 $.capabilities['cloudflare.zone.list']: capability 'cloudflare.zone.list' touches an API but "
            "does not require secrets.auth.status; add secrets.auth.status to requires",
        ],
        id="touches-api-without-requires",
    ),
    pytest.param(
        [Edit(CAPABILITIES, "command: ./bin/alert --oncall", "command: ./bin/alarm --oncall")],
        [
            f"{CAPS}:7 $.capabilities['alerting.dispatch'].command: capability 'alerting.dispatch' runs './bin/alarm', "
            "which does not exist in the repository; add the script (executable) or fix the command"
        ],
        id="command-missing",
    ),
    pytest.param(
        [Edit(CAPABILITIES, "command: ./bin/alert --oncall", 'command: "./bin/alert \'--oncall"')],
        [
            f"{CAPS}:7 $.capabilities['alerting.dispatch'].command: capability 'alerting.dispatch' has unbalanced "
            "quotes in its command; fix the quoting"
        ],
        id="command-unbalanced-quotes",
    ),
    pytest.param(
        [Edit(CAPABILITIES, "approval: manual, outputs: [stdout]}", 'approval: manual, outputs: [stdout], cwd: ""}')],
        [
            f"{CAPS}:7 $.capabilities['alerting.dispatch'].cwd: capability 'alerting.dispatch' has an empty cwd; remove cwd or set a directory"
        ],
        id="cwd-empty",
    ),
]


@pytest.mark.parametrize(("edits", "expected"), D63_CASES)
def test_d63_fails(contracts_dir: Path, open_contracts: OpenContracts, edits: list[Edit], expected: list[str]) -> None:
    """D63 reports unknown or looping preconditions, API capabilities without secrets checks and bad commands."""
    write_contracts(contracts_dir, CAPABILITY_FILES, edits)
    write_alert_command(contracts_dir.parent)
    assert gate_findings(open_contracts(), "D63") == expected


def test_d63_command_not_executable(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """D63 rejects a `./x` command whose file exists but is not executable."""
    write_contracts(contracts_dir, CAPABILITY_FILES)
    write_alert_command(contracts_dir.parent, 0o644)
    assert gate_findings(open_contracts(), "D63") == [
        f"{CAPS}:7 $.capabilities['alerting.dispatch'].command: capability 'alerting.dispatch' runs './bin/alert', "
        "which is not executable; run: chmod +x bin/alert"
    ]


BAD_SAFETY = Edit(
    CAPABILITIES, "command: ./bin/alert --oncall, safety: mutating", "command: ./bin/alert --oncall, safety: mutate"
)


def test_d63_bad_enum_caught_by_schema(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """A safety value outside the enum fails D63 with the JSON Schema finding (the schema catches it first)."""
    write_contracts(contracts_dir, CAPABILITY_FILES, [BAD_SAFETY])
    write_alert_command(contracts_dir.parent)
    assert gate_findings(open_contracts(), "D63") == [
        f"{CAPS}:7 $.capabilities['alerting.dispatch'].safety: 'mutate' is not an allowed value (did you mean "
        "'mutating'?); use one of: read-only, mutating, destructive"
    ]


def test_d63_bad_enum_caught_by_gate(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """D63's own check also rejects a safety value outside the enum."""
    write_contracts(contracts_dir, CAPABILITY_FILES, [BAD_SAFETY])
    write_alert_command(contracts_dir.parent)
    assert check_findings(open_contracts(), "D63") == [
        f"{CAPS}:7 $.capabilities['alerting.dispatch'].safety: capability 'alerting.dispatch' has safety 'mutate' "
        "(did you mean 'mutating'?); use one of: read-only, mutating, destructive"
    ]


# D67 capability map parity.

D67_CASES = [
    pytest.param(
        [
            Edit(
                CAPABILITY_MAP,
                "  alerting.dispatch: {plugin: alerting, script: alerting-dispatch, safety: mutating}\n",
                "",
            )
        ],
        [
            f"{CAPS}:7 $.capabilities['alerting.dispatch']: MISSING from map: capability 'alerting.dispatch' has no "
            "entry in capability_map.yaml; add 'alerting.dispatch: {plugin, script, safety}' to capability_map.yaml"
        ],
        id="missing-from-map",
    ),
    pytest.param(
        [
            Edit(
                CAPABILITY_MAP,
                "safety: mutating}\n",
                "safety: mutating}\n  verify.run: {plugin: verify, script: verify-run, safety: read-only}\n",
            )
        ],
        [
            f"{CAPMAP}:6 $.capabilities['verify.run']: PHANTOM in map: 'verify.run' is not declared in "
            "capabilities.yaml; remove it from the map or declare the capability"
        ],
        id="phantom-in-map",
    ),
    pytest.param(
        [Edit(CAPABILITY_MAP, "  alerting.dispatch: {", "  alerting.dispach: {")],
        [
            f"{CAPS}:7 $.capabilities['alerting.dispatch']: MISSING from map: capability 'alerting.dispatch' has no "
            "entry in capability_map.yaml; add 'alerting.dispatch: {plugin, script, safety}' to capability_map.yaml",
            f"{CAPMAP}:5 $.capabilities['alerting.dispach']: PHANTOM in map: 'alerting.dispach' is not declared in "
            "capabilities.yaml (did you mean 'alerting.dispatch'?); remove it from the map or declare the capability",
        ],
        id="misspelt-in-map",
    ),
    pytest.param(
        # The ops gate compared keys only.
        [
            Edit(
                CAPABILITY_MAP,
                "script: alerting-dispatch, safety: mutating",
                "script: alerting-dispatch, safety: read-only",
            )
        ],
        [
            f"{CAPMAP}:5 $.capabilities['alerting.dispatch'].safety: 'alerting.dispatch' has safety 'read-only' in the "
            "map but 'mutating' in capabilities.yaml; make the two agree"
        ],
        id="safety-mismatch",
    ),
]


@pytest.mark.parametrize(("edits", "expected"), D67_CASES)
def test_d67_fails(contracts_dir: Path, open_contracts: OpenContracts, edits: list[Edit], expected: list[str]) -> None:
    """D67 reports capabilities missing from the map, phantom map entries and safety that disagrees."""
    write_contracts(contracts_dir, CAPABILITY_FILES, edits)
    assert gate_findings(open_contracts(), "D67") == expected


def test_d67_unparsable_map(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """A map that does not parse fails D67 with the loader's finding, not as an empty map (the ops weakness)."""
    write_contracts(
        contracts_dir, {**CAPABILITY_FILES, CAPABILITY_MAP: "capabilities:\n  verify.run: {plugin: verify\n"}
    )
    assert gate_findings(open_contracts(), "D67") == [
        f"{CAPMAP}:3: YAML syntax error: the mapping opened with '{{' on line 2 is not closed before this line; "
        "close it with '}' (and separate its entries with ',')"
    ]
