"""Forensic capture and drift matrix against the in-process sandbox, with seeded drift named exactly.

Covers `fixtures/capture.py` (capture, baseline file, CLI), `infracore_verify/drift.py` (matrix, allowlist,
renderers, report files), the `infra.core.drift` probe and the D907 live gate through pytester.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from infracore_verify.clients.authentik import AuthentikClient
from infracore_verify.clients.cloudflare import CloudflareClient
from infracore_verify.clients.http import Limits
from infracore_verify.clients.infisical import InfisicalClient
from infracore_verify.clients.vaultwarden import VaultwardenClient
from infracore_verify.contracts.sets import BUNDLED_CONTRACTS, SUITE_ROOT, Contracts
from infracore_verify.redact import REDACTOR, Redactor
from infracore_verify.sandbox import IngressRuleSeed, Sandbox, SandboxSeed, parse_fault_spec
from infracore_verify.smoke.capture import capture, dump_baseline, load_baseline, write_baseline
from infracore_verify.smoke.drift import Change, DriftContractError, DriftMatrix, Expected, drift_matrix, write_report
from infracore_verify.smoke.probes import ProbeContext, ProbeSetupError, run_probe
from tests.conftest import PROJECT_CONFTEST
from tests.projects import UNTIMED_SLO

TUNNEL_ID = "6f1c2d3e-4a5b-4c6d-8e7f-90a1b2c3d4e5"
NEW_TUNNEL_ID = "0f0e0d0c-0b0a-4909-8807-060504030201"
WHEN = dt.datetime(2026, 11, 26, 14, 52, 23, tzinfo=dt.UTC)
Cells = dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...], tuple[Change, ...]]]
Live = tuple[Sandbox, Callable[[str], Any], dict[str, Any]]


@contextmanager
def live(seed: SandboxSeed | None = None, *faults: str) -> Iterator[Live]:
    """Starts a sandbox with `seed` and yields it, a clients(system) function and the Infisical settings."""
    with Sandbox(seed) as box:
        for spec in faults:
            box.inject(parse_fault_spec(spec))
        creds, urls, limits = box.credentials, box.base_urls, Limits(max_attempts=1, max_total_wait=0)
        built: dict[str, Any] = {
            "cloudflare": CloudflareClient(
                urls["cloudflare"],
                limits=limits,
                api_token=creds["cloudflare"]["api_token"],
                api_email=creds["cloudflare"]["api_email"],
                api_key=creds["cloudflare"]["api_key"],
                account_id=creds["cloudflare"]["account_id"],
            ),
            "vaultwarden": VaultwardenClient(
                urls["vaultwarden"],
                limits=limits,
                client_id=creds["vaultwarden"]["client_id"],
                client_secret=creds["vaultwarden"]["client_secret"],
            ),
            "infisical": InfisicalClient(
                urls["infisical"],
                limits=limits,
                client_id=creds["infisical"]["client_id"],
                client_secret=creds["infisical"]["client_secret"],
            ),
            "authentik": AuthentikClient(urls["authentik"], limits=limits, api_token=creds["authentik"]["api_token"]),
        }
        try:
            yield box, built.__getitem__, {"infisical_project_id": creds["infisical"]["project_id"]}
        finally:
            for client in built.values():
                client.close()


def take(seed: SandboxSeed | None = None, *faults: str) -> dict[str, Any]:
    """Returns a capture of a sandbox started with `seed` (and faults), at the fixed time WHEN."""
    with live(seed, *faults) as (_, clients, settings):
        return capture(clients, environment="sandbox", is_sandbox=True, settings=settings, clock=lambda: WHEN)


def bundled() -> Contracts:
    """Returns the shipped contract set."""
    return Contracts.open(BUNDLED_CONTRACTS)


def drifting(matrix: DriftMatrix) -> Cells:
    """Returns every cell with a difference as (system, attribute) -> (missing, extra, changed)."""
    return {(c.system, c.attribute): (c.missing, c.extra, c.changed) for c in matrix.drifting()}


# --- seeds with drift ---------------------------------------------------------------------------------------


def extra_zone(seed: SandboxSeed) -> SandboxSeed:
    """One sandbox-only zone."""
    return seed.with_extra_zones(1)


def ingress_and_registrar(seed: SandboxSeed) -> SandboxSeed:
    """An extra zone, the remotely managed tunnel's vault.example.com rule removed, grafana.example.com's added,
    example.net registered."""
    seed = seed.with_extra_zones(1)
    first = seed.tunnels[0]
    rules = (
        IngressRuleSeed("http://grafana:3000", "grafana.example.com"),
        *(r for r in first.ingress if r.hostname != "vault.example.com"),
    )
    zones = tuple(replace(z, registrar=True) if z.name == "example.net" else z for z in seed.zones)
    remote = replace(first, ingress=rules, source="cloudflare")
    return replace(seed, zones=zones, tunnels=(remote, *seed.tunnels[1:]))


def tunnel_id(seed: SandboxSeed) -> SandboxSeed:
    """The infra-core tunnel was recreated with a new id (its DNS routes follow it)."""
    return replace(seed, tunnels=(replace(seed.tunnels[0], id=NEW_TUNNEL_ID), *seed.tunnels[1:]))


def missing_zone(seed: SandboxSeed) -> SandboxSeed:
    """example.org (a registrar zone) is gone from the account."""
    return replace(seed, zones=tuple(z for z in seed.zones if z.name != "example.org"))


def renamed_tunnel(seed: SandboxSeed) -> SandboxSeed:
    """The infra-core tunnel lives on under another name."""
    return replace(seed, tunnels=(replace(seed.tunnels[0], name="infra-core-2"), *seed.tunnels[1:]))


SEEDED: dict[str, tuple[Callable[[SandboxSeed], SandboxSeed], Cells]] = {
    "extra-zone": (extra_zone, {("cloudflare", "zones"): ((), ("extra-01.sandbox.invalid",), ())}),
    "ingress-and-registrar": (
        ingress_and_registrar,
        {
            ("cloudflare", "zones"): ((), ("extra-01.sandbox.invalid",), ()),
            ("cloudflare", "ingress"): (
                ("vault.example.com (tunnel infra-core)",),
                ("grafana.example.com (tunnel infra-core)",),
                (),
            ),
            ("cloudflare", "registrar"): ((), (), (Change("example.net", "not registered", "registered"),)),
            ("cloudflare", "dns"): ((f"CNAME vault.example.com {TUNNEL_ID}.cfargotunnel.com",), (), ()),
        },
    ),
    "tunnel-id": (
        tunnel_id,
        {
            ("cloudflare", "tunnels"): ((), (), (Change("infra-core", f"id {TUNNEL_ID}", f"id {NEW_TUNNEL_ID}"),)),
            ("cloudflare", "dns"): (
                (),
                (),
                tuple(
                    Change(host, f"CNAME {TUNNEL_ID}.cfargotunnel.com", f"CNAME {NEW_TUNNEL_ID}.cfargotunnel.com")
                    for host in ("auth.example.com", "secrets.example.com", "vault.example.com")
                ),
            ),
        },
    ),
    "missing-zone": (
        missing_zone,
        {
            ("cloudflare", "zones"): (("example.org",), (), ()),
            ("cloudflare", "registrar"): (("example.org",), (), ()),
        },
    ),
    "renamed-tunnel": (
        renamed_tunnel,
        {("cloudflare", "tunnels"): (("infra-core",), ("infra-core-2",), ())},
    ),
}


# --- capture ------------------------------------------------------------------------------------------------


def test_capture_records_the_four_systems_read_only() -> None:
    """Captures versions, zones, records, tunnels and ingress, registrar, outposts and key names with GETs and one login."""
    with live() as (box, clients, settings):
        data = capture(clients, environment="sandbox", is_sandbox=True, settings=settings, clock=lambda: WHEN)
        sent = {s: [(r.method, r.relative_path) for r in box.requests(s)] for s in box.base_urls}
        assert all(url.startswith("http://127.0.0.1:") for url in box.base_urls.values())
    assert data["captured_at"] == "2026-11-26T14:52:23Z"
    assert (data["environment"], data["sandbox"], data["errors"]) == ("sandbox", True, [])
    systems = data["systems"]
    cloudflare = systems["cloudflare"]
    assert cloudflare["zones"] == ["example.com", "example.net", "example.org"]
    assert cloudflare["registrar"] == ["example.com", "example.org"]
    # The infra-core tunnel is managed locally (cloudflared's own file): its ingress is not readable from the API.
    assert cloudflare["tunnels"] == {"infra-core": {"id": TUNNEL_ID, "ingress_source": "local"}}
    assert f"CNAME vault.example.com {TUNNEL_ID}.cfargotunnel.com" in cloudflare["dns_records"]["example.com"]
    assert cloudflare["dns_records"]["example.net"] == [
        "A example.net 192.0.2.10",
        "CNAME www.example.net example.net",
        "TXT _dmarc.example.net v=DMARC1; p=reject; rua=mailto:dmarc@example.net",
        "TXT example.net v=spf1 -all",
    ]
    assert systems["vaultwarden"] == {"version": "1.37.2", "server_version": "2026.6.0"}
    assert systems["authentik"] == {
        "version": "2026.2.2",
        "outposts": ["authentik Embedded Outpost", "infra-core-ldap"],
        "outpost_instances": {"authentik Embedded Outpost": 1, "infra-core-ldap": 1},
    }
    assert systems["infisical"]["status"] == "Ok"
    assert systems["infisical"]["secret_scope"] == {"environment": "prod", "path": "/"}
    assert systems["infisical"]["secret_keys"]["/"] == ["LOG_LEVEL", "SANDBOX_NOTE"]
    assert "CLOUDFLARE_API_TOKEN" in systems["infisical"]["secret_keys"]["/infra-core"]
    methods = {(system, method, path) for system, calls in sent.items() for method, path in calls if method != "GET"}
    assert methods == {("infisical", "POST", "/api/v1/auth/universal-auth/login")}
    assert all(call[0] in ("GET", "POST") for calls in sent.values() for call in calls)


def test_capture_never_holds_a_secret_value() -> None:
    """Lists secrets with values hidden and keeps only key names: no credential or seeded value appears anywhere."""
    seed = SandboxSeed.default()
    with live(seed) as (box, clients, settings):
        data = capture(clients, environment="sandbox", is_sandbox=True, settings=settings)
        listing = [r for r in box.requests("infisical") if r.relative_path == "/api/v3/secrets/raw"]
        credentials = [v for values in box.credentials.values() for v in values.values()]
    text = yaml.safe_dump(data) + json.dumps(data)
    assert [r.query_string for r in listing]
    assert all("viewSecretValue=false" in r.query_string for r in listing)
    # Every sandbox credential is registered, as the resolver does (the Infisical mirror holds exactly these).
    for value in credentials:
        REDACTOR.register(value, "sandbox credential")
    assert set(credentials) <= set(REDACTOR.values())
    assert not REDACTOR.contains_secret(text)
    seeded = Redactor()
    for secret in seed.infisical_secrets:
        seeded.register(secret.value if len(secret.value) >= 8 else None)
    assert seeded.values()
    assert not seeded.contains_secret(text)
    assert "secretValue" not in text
    assert "[REDACTED" not in text


def test_failed_calls_are_recorded_with_their_class_never_raised() -> None:
    """Records each failed read (and an unbuildable client) in errors with its class; the rest is still captured."""
    seed = SandboxSeed.default()
    with live(seed, "vaultwarden:down", "cloudflare:status=503@GET:/zones") as (_, clients, settings):

        def some(system: str) -> Any:
            if system == "authentik":
                raise ProbeSetupError("environment variable AUTHENTIK_API_TOKEN is not set")
            return clients(system)

        data = capture(some, environment="sandbox", is_sandbox=True, settings=settings)
    errors = [(e["system"], e["attribute"], e["call"], e["class"]) for e in data["errors"]]
    assert errors == [
        ("cloudflare", "zones", "GET /zones", "api_error"),
        ("vaultwarden", "versions", "GET /api/version", "network_error"),
        ("vaultwarden", "versions", "GET /api/config", "network_error"),
        ("authentik", "presence", "build the authentik client", "setup_error"),
    ]
    assert [e["message"].split(" (")[0] for e in data["errors"][1:3]] == [
        "not sent: vaultwarden did not answer GET /alive",
        "not sent: vaultwarden did not answer GET /alive",
    ]
    assert "no response network_error after 1 attempt" in data["errors"][1]["message"]
    assert "AUTHENTIK_API_TOKEN is not set" in data["errors"][-1]["message"]
    assert "zones" not in data["systems"]["cloudflare"]
    assert "dns_records" not in data["systems"]["cloudflare"]
    assert data["systems"]["cloudflare"]["registrar"] == ["example.com", "example.org"]
    assert data["systems"]["vaultwarden"] == {}
    assert "authentik" not in data["systems"]
    matrix = drift_matrix(bundled(), data)
    assert {c.name for c in matrix.unreadable()} == {"cloudflare.zones", "cloudflare.dns", "authentik.presence"}
    assert matrix.cell("vaultwarden", "versions") is not None
    assert [c.name for c in matrix.cells if c.status == "error" and not c.declared] == [
        "vaultwarden.versions",
        "authentik.versions",
        "authentik.outposts",
    ]
    assert matrix.unexpected() == []


def test_baseline_file_is_dated_stable_yaml_that_round_trips(tmp_path: Path) -> None:
    """Writes baseline-<stamp>Z.yaml with sorted keys, reads back equal, and never overwrites one of the same second."""
    data = take()
    path = write_baseline(data, tmp_path / "baselines")
    assert path.name == "baseline-20261126-145223Z.yaml"
    text = path.read_text(encoding="utf-8")
    assert text == dump_baseline(data) == yaml.safe_dump(data, sort_keys=True, default_flow_style=False, width=1000)
    assert text.splitlines()[:3] == ["captured_at: '2026-11-26T14:52:23Z'", "environment: sandbox", "errors: []"]
    assert load_baseline(path) == data
    assert write_baseline(data, tmp_path / "baselines").name == "baseline-20261126-145223Z-2.yaml"
    assert drift_matrix(bundled(), load_baseline(path)).drifting() == []


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Runs `python -m infracore_verify.smoke.capture` (bounded)."""
    return subprocess.run(
        [sys.executable, "-m", "infracore_verify.smoke.capture", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def test_cli_captures_the_sandbox_and_prints_the_path(tmp_path: Path) -> None:
    """Starts the sandbox in-process, writes the dated baseline and prints its path (exit 0)."""
    result = run_cli("--env", "sandbox", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    [line] = result.stdout.splitlines()
    path = Path(line)
    assert path.parent == tmp_path / "out"
    assert re.fullmatch(r"baseline-\d{8}-\d{6}Z\.yaml", path.name)
    data = load_baseline(path)
    assert (data["environment"], data["sandbox"], data["errors"]) == ("sandbox", True, [])
    assert set(data["systems"]) == {"cloudflare", "vaultwarden", "infisical", "authentik"}
    assert drift_matrix(bundled(), data).drifting() == []


def test_cli_exits_1_when_written_with_errors(
    tmp_path: Path, contracts_dir: Path, edit_contract: Callable[[str, Callable[[Any], Any]], Path]
) -> None:
    """Writes the baseline even when a system cannot be read, names the failure on stderr and exits 1."""

    def drop(data: Any) -> None:
        del data["systems"]["authentik"]["credentials"]

    edit_contract("environments/sandbox.yaml", drop)
    result = run_cli(
        "--env", "sandbox", "--contracts", str(contracts_dir), "--out", str(tmp_path / "out"), cwd=tmp_path
    )
    assert result.returncode == 1
    [line] = result.stdout.splitlines()
    assert load_baseline(Path(line))["errors"][0]["class"] == "setup_error"
    [error] = result.stderr.splitlines()
    assert error.startswith("capture: authentik.presence: build the authentik client: ")
    assert error.endswith("[class setup_error]")
    assert "$.systems.authentik.credentials.api_token" in error


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--env", "nope"], "capture: error: --env nope: environments/nope.yaml: no environment named 'nope'; *"),
        (["--env", "sandbox", "--contracts", "missing-dir"], "capture: error: --contracts: *missing-dir*"),
        ([], "capture: error: the following arguments are required: --env"),
    ],
    ids=["unknown-env", "bad-contracts", "no-env"],
)
def test_cli_bad_input_is_one_line_exit_2(tmp_path: Path, args: list[str], error: str) -> None:
    """Rejects bad input with exit 2 and a single line on stderr, no traceback, nothing written."""
    result = run_cli(*args, "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert re.fullmatch(re.escape(error).replace(r"\*", ".*"), line), line
    assert not (tmp_path / "out").exists()


# --- drift matrix -------------------------------------------------------------------------------------------


def test_unmodified_seed_has_no_drift() -> None:
    """Finds nothing on the seed derived from the shipped contracts: every cell ok or observed."""
    matrix = drift_matrix(bundled(), take())
    assert matrix.drifting() == []
    assert matrix.unexpected() == []
    assert matrix.errors == ()
    assert {c.name: c.status for c in matrix.cells} == {
        "cloudflare.presence": "ok",
        "cloudflare.zones": "ok",
        "cloudflare.tunnels": "ok",
        "cloudflare.ingress": "ok",
        "cloudflare.registrar": "ok",
        "cloudflare.dns": "ok",
        "vaultwarden.presence": "ok",
        "vaultwarden.versions": "observed",
        "infisical.presence": "ok",
        "infisical.status": "observed",
        "infisical.secret_keys": "observed",
        "authentik.presence": "ok",
        "authentik.versions": "observed",
        "authentik.outposts": "observed",
    }


@pytest.mark.parametrize("case", list(SEEDED))
def test_seeded_drift_is_named_exactly(case: str) -> None:
    """Names exactly the seeded differences: the full set of drifting cells equals what was seeded."""
    transform, expected = SEEDED[case]
    matrix = drift_matrix(bundled(), take(transform(SandboxSeed.default())))
    assert drifting(matrix) == expected
    assert {(c.system, c.attribute) for c in matrix.unexpected()} == set(expected)
    assert matrix.errors == ()
    assert matrix.unreadable() == []


DRIFT_MARKDOWN = f"""\
# Drift matrix

environment: sandbox (sandbox); captured_at: 2026-11-26T14:52:23Z
result: 5 unexpected difference(s), 4 drifting cell(s) (0 fully allowed), 9 compared, 5 observed, 0 not readable

| system | presence | zones | tunnels | ingress | registrar | dns | versions | status | secret_keys | outposts |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
| cloudflare | ok (captured) | +1 extra-01.sandbox.invalid | ok (1 live) | -1 vault.example.com (tunnel infra-core); +1 grafana.example.com (tunnel infra-core) | ~1 example.net (not registered -> registered) | -1 CNAME vault.example.com {TUNNEL_ID}.cfargotunnel.com | n/a | n/a | n/a | n/a |
| vaultwarden | ok (captured) | n/a | n/a | n/a | n/a | n/a | observed: 1.37.2 (server 2026.6.0) | n/a | n/a | n/a |
| infisical | ok (captured) | n/a | n/a | n/a | n/a | n/a | n/a | observed: Ok | observed: 11 keys in 3 folders | n/a |
| authentik | ok (captured) | n/a | n/a | n/a | n/a | n/a | observed: 2026.2.2 | n/a | n/a | observed: 2 (authentik Embedded Outpost, infra-core-ldap) |

Legend: -N missing (in the contracts, not live), +N extra (live only), ~N changed; (allowed) = covered by expected_drift; n/a = does not apply.

## Unexpected differences
- cloudflare.zones extra: extra-01.sandbox.invalid
- cloudflare.ingress missing: vault.example.com (tunnel infra-core)
- cloudflare.ingress extra: grafana.example.com (tunnel infra-core)
- cloudflare.registrar changed: example.net (not registered -> registered)
- cloudflare.dns missing: CNAME vault.example.com {TUNNEL_ID}.cfargotunnel.com
"""


def test_markdown_matrix_text(tmp_path: Path) -> None:
    """Renders the system x attribute table with counts and names, then every unexpected difference."""
    matrix = drift_matrix(bundled(), take(ingress_and_registrar(SandboxSeed.default())))
    assert matrix.to_markdown() == DRIFT_MARKDOWN
    path = write_report(matrix, tmp_path / "receipts", "CAP-20261126-145223__verify.run__Rabcdefghij")
    assert path.name == "CAP-20261126-145223__verify.run__Rabcdefghij.drift.json"
    assert path.with_name("CAP-20261126-145223__verify.run__Rabcdefghij.drift.md").read_text() == DRIFT_MARKDOWN
    report = json.loads(path.read_text())
    assert (
        report["unexpected"]
        == DRIFT_MARKDOWN.split("## Unexpected differences\n")[1].replace("- ", "").split("\n")[:-1]
    )
    zones = next(c for c in report["cells"] if c["system"] == "cloudflare" and c["attribute"] == "zones")
    assert zones == {
        "system": "cloudflare",
        "attribute": "zones",
        "status": "drift",
        "missing": [],
        "extra": ["extra-01.sandbox.invalid"],
        "changed": [],
        "allowed": {"missing": [], "extra": [], "changed": []},
        "unexpected": True,
        "live": "4 live",
        "errors": [],
        "declared": True,
    }
    assert path.read_text() == matrix.to_json()


def test_expected_drift_allowlists_a_difference() -> None:
    """Allows the differences an expected_drift entry covers (fnmatch names) and lists entries that cover nothing."""
    inventory = dict(bundled().doc("inventory").data)
    inventory["expected_drift"] = [
        {"system": "cloudflare", "attribute": "zones", "extra": ["extra-*.sandbox.invalid"], "reason": "staging"},
        {"system": "cloudflare", "attribute": "registrar", "changed": ["example.net"]},
        {"system": "authentik", "attribute": "outposts", "missing": ["infra-core-radius"]},
    ]
    expected = replace(Expected.from_contracts(bundled()), inventory=inventory)
    matrix = drift_matrix(expected, take(ingress_and_registrar(SandboxSeed.default())))
    assert len(matrix.drifting()) == 4
    assert matrix.unexpected_lines() == [
        "cloudflare.ingress missing: vault.example.com (tunnel infra-core)",
        "cloudflare.ingress extra: grafana.example.com (tunnel infra-core)",
        f"cloudflare.dns missing: CNAME vault.example.com {TUNNEL_ID}.cfargotunnel.com",
    ]
    assert matrix.unused_allowances == ("authentik.outposts missing: infra-core-radius",)
    markdown = matrix.to_markdown()
    assert "| +1 extra-01.sandbox.invalid (allowed) |" in markdown
    assert "~1 example.net (not registered -> registered) (allowed)" in markdown
    assert "## Allowed differences (expected_drift)\n- cloudflare.zones extra: extra-01.sandbox.invalid\n" in markdown
    assert "## expected_drift entries that cover nothing\n- authentik.outposts missing: infra-core-radius\n" in markdown


def test_expected_drift_is_schema_checked(
    edit_contract: Callable[[str, Callable[[Any], Any]], Path], open_contracts: Callable[[], Contracts]
) -> None:
    """Loads a valid expected_drift entry from the inventory and rejects a misspelt attribute with file and path."""

    def allow(entry: dict[str, Any]) -> Callable[[Any], None]:
        return lambda data: data.__setitem__("expected_drift", [entry])

    edit_contract("cloudflare.inventory.yaml", allow({"system": "cloudflare", "attribute": "zones", "extra": ["x.*"]}))
    expected = Expected.from_contracts(open_contracts())
    assert [str(a) for a in expected.allowances()] == ["cloudflare.zones extra: x.*"]
    edit_contract("cloudflare.inventory.yaml", allow({"system": "cloudflare", "attribute": "zone", "extra": ["x"]}))
    with pytest.raises(DriftContractError, match=r"contracts/cloudflare\.inventory\.yaml:\d+ \$\.expected_drift"):
        Expected.from_contracts(open_contracts())


def test_secret_references_must_exist_by_name() -> None:
    """Compares the environment's {secret: ...} references with the captured key names (only missing ones drift)."""
    expected = replace(
        Expected.from_contracts(bundled()),
        secret_refs=("/infra-core/CLOUDFLARE_API_TOKEN", "/infra-core/GRAFANA_TOKEN", "/LOG_LEVEL"),
    )
    matrix = drift_matrix(expected, take())
    assert drifting(matrix) == {("infisical", "secret_keys"): (("/infra-core/GRAFANA_TOKEN",), (), ())}


# --- the probe and the D907 gate ----------------------------------------------------------------------------


def probe_outcome(seed: SandboxSeed, settings: dict[str, Any], *faults: str) -> Any:
    """Runs the infra.core.drift probe on a sandbox with `seed`, as the smoke runner would."""
    with live(seed, *faults) as (_, clients, base):
        ctx = ProbeContext(clients, bundled().doc("inventory").data, {**base, **settings})
        return run_probe("infra.core.drift", "infra.core.drift", "cloudflare", ctx, UNTIMED_SLO)


def test_probe_passes_on_the_sandbox_and_keeps_the_matrix() -> None:
    """Passes on the unmodified sandbox, stores the matrix (markdown and json) and records the exchanges."""
    outcome = probe_outcome(SandboxSeed.default(), {"contracts": bundled(), "environment": "sandbox", "sandbox": True})
    assert (outcome.verdict, outcome.failure_class, outcome.warnings) == ("pass", None, [])
    assert outcome.message == (
        "infra.core.drift: ok (0 unexpected difference(s), 0 drifting cell(s) (0 fully allowed), 9 compared, "
        "5 observed, 0 not readable)"
    )
    assert outcome.details["drift"]["markdown"].startswith("# Drift matrix\n\nenvironment: sandbox (sandbox);")
    assert json.loads(outcome.details["drift"]["json"])["unexpected"] == []
    assert json.loads(json.dumps(outcome.details)) == outcome.details  # travels through user_properties
    assert {e.method for e in outcome.exchanges} == {"GET"}
    assert len(outcome.exchanges) >= 15


def test_probe_fails_naming_each_unexpected_difference(tmp_path: Path) -> None:
    """Fails as inventory_drift naming every seeded difference (without settings: the bundled contracts)."""
    outcome = probe_outcome(ingress_and_registrar(SandboxSeed.default()), {})
    written = write_report(outcome.details["drift"], tmp_path, "CAP-20261126-145223__verify.run__Rabcdefghij")
    assert json.loads(written.read_text())["unexpected"][0] == "cloudflare.zones extra: extra-01.sandbox.invalid"
    assert written.with_suffix(".md").read_text() == outcome.details["drift"]["markdown"]
    assert (outcome.verdict, outcome.failure_class) == ("fail", "inventory_drift")
    assert outcome.message == (
        "infra.core.drift (cloudflare): live state drifts from the contracts: "
        "cloudflare.zones extra: extra-01.sandbox.invalid; "
        "cloudflare.ingress missing: vault.example.com (tunnel infra-core); "
        "cloudflare.ingress extra: grafana.example.com (tunnel infra-core); "
        "cloudflare.registrar changed: example.net (not registered -> registered); "
        f"cloudflare.dns missing: CNAME vault.example.com {TUNNEL_ID}.cfargotunnel.com [class inventory_drift]"
    )
    assert "environment: unknown;" in outcome.details["drift"]["markdown"]


def test_probe_unreadable_declared_attribute_fails_with_its_class() -> None:
    """Fails with the capture's class when it cannot read what the contracts declare; unread observations only warn."""
    outcome = probe_outcome(SandboxSeed.default(), {}, "cloudflare:status=503@GET:/zones", "vaultwarden:down")
    assert (outcome.verdict, outcome.failure_class) == ("fail", "api_error")
    assert outcome.message == (
        "infra.core.drift (cloudflare): expected to compare the live state with the contracts; "
        "cannot compare cloudflare.zones: listing failed on page 1: GET /zones -> 503 api_error after 1 attempt "
        "(waited 0.0s, mode=token): 1000 Service Unavailable [class api_error]; "
        "cannot compare cloudflare.dns: not captured (it needs the zone listing)"
    )
    assert [w.split(" (")[0] for w in outcome.warnings] == [
        "not observed: vaultwarden.versions: GET /api/version: not sent: vaultwarden did not answer GET /alive",
        "not observed: vaultwarden.versions: GET /api/config: not sent: vaultwarden did not answer GET /alive",
    ]
    assert all(w.endswith("[class network_error]") for w in outcome.warnings)


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """Returns a pytester directory laid out like the project (both plugins, gates and smoke, contracts)."""
    (pytester.path / "conftest.py").write_text(PROJECT_CONFTEST)
    for folder in ("gates", "smoke"):
        (pytester.path / folder).mkdir()
        shutil.copy(SUITE_ROOT / folder / f"test_{folder}.py", pytester.path / folder / f"test_{folder}.py")
    shutil.copytree(SUITE_ROOT / "contracts", pytester.path / "contracts")
    pytester.makeini(f"[pytest]\naddopts = -p no:cacheprovider\ninfracore_contracts = {pytester.path / 'contracts'}\n")
    return pytester


SEEDED_SANDBOX = '''

import dataclasses

from infracore_verify.sandbox import IngressRuleSeed, Sandbox, SandboxSeed


@pytest.fixture(scope="session")
def sandbox(infracore_environment):
    """The sandbox with seeded drift: an extra zone, remote ingress rules changed, example.net registered."""
    seed = SandboxSeed.default().with_extra_zones(1)
    first = seed.tunnels[0]
    rules = (
        IngressRuleSeed("http://grafana:3000", "grafana.example.com"),
        *(r for r in first.ingress if r.hostname != "vault.example.com"),
    )
    zones = tuple(dataclasses.replace(z, registrar=True) if z.name == "example.net" else z for z in seed.zones)
    remote = dataclasses.replace(first, ingress=rules, source="cloudflare")
    seed = dataclasses.replace(seed, zones=zones, tunnels=(remote, *seed.tunnels[1:]))
    with Sandbox(seed) as box:
        yield box
'''


def test_d907_gate_passes_on_the_sandbox_and_fails_on_seeded_drift(suite: pytest.Pytester) -> None:
    """Runs D907 through the live-gate path: green on the sandbox, and naming each seeded difference when drifted."""
    suite.runpytest_subprocess("--gate", "D907", timeout=120).assert_outcomes(passed=1)
    conftest = suite.path / "conftest.py"
    conftest.write_text("import pytest\n" + conftest.read_text() + SEEDED_SANDBOX)
    result = suite.runpytest_subprocess("--gate", "D907", timeout=120)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "D907 FAIL: 1 of 1 part(s) failed [[]deterministic[]]",
            "  part infra.core.drift FAIL: infra.core.drift (cloudflare): live state drifts from the contracts: "
            "cloudflare.zones extra: extra-01.sandbox.invalid; "
            "cloudflare.ingress missing: vault.example.com (tunnel infra-core); "
            "cloudflare.ingress extra: grafana.example.com (tunnel infra-core); "
            "cloudflare.registrar changed: example.net (not registered -> registered); "
            f"cloudflare.dns missing: CNAME vault.example.com {TUNNEL_ID}.cfargotunnel.com "
            "[[]class inventory_drift[]] [[]inventory_drift[]]",
        ]
    )
