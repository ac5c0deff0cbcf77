"""The suite's own skip policy (tests/skip_policy.py) and the browser deselection, end to end with pytester."""

from __future__ import annotations

import pytest

TESTS = """
import pytest

def test_plain_skip():
    pytest.skip("needs a thing that is missing")

@pytest.mark.allowed_skip(reason="named pipes need a POSIX system")
def test_allowed_skip():
    pytest.skip("no mkfifo here")

@pytest.fixture
def thing():
    pytest.skip("fixture could not start its server")

def test_skip_in_fixture(thing):
    pass

@pytest.mark.xfail(reason="known", strict=True)
def test_xfail():
    assert False

def test_passes():
    pass
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """Returns a pytester project that loads the skip policy plugin."""
    pytester.makepyfile(test_policy=TESTS)
    return pytester


def test_outside_ci_skips_stay_skips(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Leaves every skip a skip when CI is not set, and -rs prints each reason."""
    monkeypatch.delenv("CI", raising=False)
    result = project.runpytest("-p", "tests.skip_policy", "-rs")
    result.assert_outcomes(passed=1, skipped=3, xfailed=1)
    result.stdout.fnmatch_lines(["*needs a thing that is missing*", "*fixture could not start its server*"])


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_under_ci_an_unmarked_skip_fails_with_its_reason(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """Fails the unmarked skips (in the test and in a fixture) under CI=true; allowed skips and xfails stay."""
    monkeypatch.setenv("CI", value)
    result = project.runpytest("-p", "tests.skip_policy", "-rs")
    result.assert_outcomes(passed=1, skipped=1, xfailed=1, failed=1, errors=1)
    for line in (
        "*unexpected skip under CI=true: needs a thing that is missing",
        "*unexpected skip under CI=true: fixture could not start its server",
        "*mark it @pytest.mark.allowed_skip(reason=*",
        "SKIPPED * no mkfifo here",
    ):
        result.stdout.fnmatch_lines([line])
    assert result.ret == 1


def test_allowed_skip_without_a_reason_is_a_usage_error(pytester: pytest.Pytester) -> None:
    """Refuses @pytest.mark.allowed_skip without a reason at collection, naming the test."""
    pytester.makepyfile(
        test_bare="""
        import pytest

        @pytest.mark.allowed_skip
        def test_x():
            pass
        """
    )
    result = pytester.runpytest("-p", "tests.skip_policy")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_bare.py::test_x: @pytest.mark.allowed_skip needs a reason*"])


def test_browser_tests_are_deselected_not_skipped(pytester: pytest.Pytester) -> None:
    """Deselects browser-marked tests unless -m names browser, so no run reports them as skipped."""
    pytester.makeconftest(
        "from tests.conftest import pytest_collection_modifyitems  # noqa: F401\n"
        "def pytest_configure(config):\n"
        "    config.addinivalue_line('markers', 'browser: drives a real browser')\n"
    )
    pytester.makepyfile(
        test_b="""
        import pytest

        @pytest.mark.browser
        def test_in_browser():
            pass

        def test_plain():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, deselected=1)
    result = pytester.runpytest("-m", "browser", "-v")
    result.assert_outcomes(passed=1, deselected=1)
    result.stdout.fnmatch_lines(["*test_in_browser PASSED*"])
