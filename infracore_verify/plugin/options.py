"""The core command-line options and ini values of the `infra-core verification` group."""

from __future__ import annotations

import pytest

from infracore_verify.reporting import allure as report


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the suite's options in one group, with ini twins where they make sense."""
    group = parser.getgroup("infracore-verify", "infra-core verification")
    group.addoption("--contracts", metavar="PATH", help="Contract set: a contracts directory or an ops repository root")
    group.addoption(
        "--gate",
        action="append",
        default=[],
        metavar="ID",
        help="Run only these gates (repeatable, comma lists allowed)",
    )
    group.addoption("--profile", choices=("fast", "domain", "release"), help="Run a verify profile the ops way")
    group.addoption("--domain", metavar="NAME", help="Domain for --profile domain (implies it)")
    group.addoption("--list-gates", action="store_true", help="Print the gate table and exit")
    group.addoption("--env", metavar="NAME", help="Target environment from contracts/environments (default: sandbox)")
    group.addoption("--reports-dir", metavar="DIR", help="Where receipts go (default: reports)")
    group.addoption(
        "--budget-blocking",
        action="store_true",
        default=None,
        help="Fail the run when it exceeds its ring budget",
    )
    parser.addini(
        "infracore_runbook_url",
        "Runbook link pattern; {id} is the gate, probe or recovery action id (default: docs/runbook.md#{id})",
        default="",
    )
    parser.addini(
        "infracore_gap_url",
        f"Operational gap link pattern; {{id}} is the gap id (default: {report.DEFAULT_GAP_URL})",
        default="",
    )
    parser.addini("infracore_contracts", "Contract set used when --contracts is not given", default="")
    parser.addini("infracore_env", "Target environment used when --env is not given", default="")
    parser.addini("infracore_reports_dir", "Where receipts go", default="reports")
    parser.addini(
        "infracore_budget_blocking",
        "Fail the run when it exceeds its ring budget",
        type="bool",
        default=False,
    )
