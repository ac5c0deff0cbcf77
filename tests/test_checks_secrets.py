"""D55's native part: the AST scan that no code path of the suite prints or logs a secret-looking value."""

from __future__ import annotations

from pathlib import Path

from infracore_verify.contracts.sets import BUNDLED_CONTRACTS, Contracts
from infracore_verify.gates.checks.base import ContractView
from infracore_verify.gates.checks.secrets_scan import check_no_secret_output, scan_source

BAD = """import logging, sys, os
log = logging.getLogger(__name__)
api_token = "x"
print("token is", api_token)
log.info("secret %s", self.client_secret)
sys.stderr.write(os.environ["HOME"])
print("fine", len(items))
logger.debug("masked %s", REDACTOR.mask(text))
"""


def test_scan_names_each_secret_output(tmp_path: Path) -> None:
    """Names each print, log or stream write whose arguments mention a secret-looking name, by line."""
    path = tmp_path / "bad.py"
    path.write_text(BAD)
    assert [f.render() for f in scan_source(path, "fixtures/bad.py")] == [
        "fixtures/bad.py:4: print call writes the secret-looking value 'api_token'; "
        "write a masked form (REDACTOR.mask) or nothing; never the value",
        "fixtures/bad.py:5: log call writes the secret-looking value 'client_secret'; "
        "write a masked form (REDACTOR.mask) or nothing; never the value",
        "fixtures/bad.py:6: stream call writes the secret-looking value 'environ'; "
        "write a masked form (REDACTOR.mask) or nothing; never the value",
    ]


def test_scan_reports_unparsable_files(tmp_path: Path) -> None:
    """Reports a file it cannot parse instead of passing it silently (the ops D20 passed without ripgrep)."""
    path = tmp_path / "broken.py"
    path.write_text("def (:\n")
    [finding] = scan_source(path, "fixtures/broken.py")
    assert finding.render().startswith("fixtures/broken.py: cannot be scanned (invalid syntax")


def test_suite_code_prints_no_secret() -> None:
    """Finds nothing in the suite's own code folders."""
    view = ContractView(Contracts.open(BUNDLED_CONTRACTS), ())
    assert [f.render() for f in check_no_secret_output(view)] == []


def test_scan_covers_the_package_and_the_checkout_layers() -> None:
    """Scans every module of the installed package and, from a checkout, the thin test layers too."""
    from infracore_verify.gates.checks.secrets_scan import scanned_files

    displays = {display for _, display in scanned_files()}
    assert {"infracore_verify/redact.py", "infracore_verify/plugin/recorder.py", "gates/test_gates.py"} <= displays
    assert not any(d.startswith("tests/") for d in displays)
