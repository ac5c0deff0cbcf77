"""Check by hand that a test kills a mutant: put the mutant alone into a scratch copy of the package and run tests.

    python tools/mutmut/apply_one.py infracore_verify/clients/cloudflare.py \
        --tests tests/test_mutation_http.py -- 'xǁCloudflareClientǁrequest__mutmut_43' 'x__second_answer__mutmut_7'

The mutated function's text comes from mutmut's working copy (`mutants/` of the last run, or `--mutants DIR`):
it replaces the original function (or method) in a copy of `infracore_verify/` under a temporary folder, and the
tests run with that copy first on `PYTHONPATH` (a guard plugin stops the run if the package came from elsewhere). The checkout's own code is never touched. Prints one line per
mutant: `KILLED` with the first failing test, or `SURVIVED`. Exit status 1 when any survived.

This is how the triage in bench/MUTATION.md checks that a new test kills a survivor without a full mutmut rerun.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "infracore_verify"
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
GUARD_MODULE = "apply_one_guard"
GUARD_EXIT = 99
# A pytest plugin in the scratch folder: stop the run unless the package under test is the mutated copy.
GUARD = f"""
import os, pytest, {PACKAGE}

def pytest_configure(config):
    here = os.path.dirname(os.path.abspath(__file__))
    if not os.path.abspath({PACKAGE}.__file__).startswith(here + os.sep):
        pytest.exit("{PACKAGE} came from " + {PACKAGE}.__file__, returncode={GUARD_EXIT})
"""
NAME = re.compile(r"^x(?:ǁ(?P<cls>\w+)ǁ|_)(?P<func>\w+?)__mutmut_(?P<n>\d+)$")


def function_text(source: str, node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The lines of one function, without its decorators."""
    lines = source.splitlines(keepends=True)
    return "".join(lines[node.lineno - 1 : node.end_lineno])


def original(tree: ast.Module, cls: str | None, func: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    """The function `func` at module level, or the method `func` of class `cls`."""
    body = tree.body
    if cls is not None:
        body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls).body
    return next(n for n in body if isinstance(n, FUNCTIONS) and n.name == func)


def mutated_source(module: str, mutants: Path, name: str) -> str:
    """The module's original source with the one function `name` mutates replaced by its mutated text."""
    short = name.rsplit(".", 1)[-1]
    found = NAME.match(short)
    if found is None:
        raise SystemExit(f"{name}: not a mutmut mutant name (x_<function>__mutmut_N or xǁClassǁ<method>__mutmut_N)")
    cls, func = found["cls"], found["func"]
    source = (ROOT / module).read_text(encoding="utf-8")
    mutated = (mutants / module).read_text(encoding="utf-8")
    node = next((n for n in ast.walk(ast.parse(mutated)) if isinstance(n, FUNCTIONS) and n.name == short), None)
    if node is None:
        raise SystemExit(f"{name}: not in {mutants / module} (was it made by the last mutmut run of {module}?)")
    text = function_text(mutated, node).replace(short, func, 1)
    old = function_text(source, original(ast.parse(source), cls, func))
    if source.count(old) != 1:
        raise SystemExit(f"{name}: the original {func} is not found exactly once in {module}")
    result = source.replace(old, text)
    ast.parse(result)
    return result


def run(module: str, mutants: Path, tests: list[str], names: list[str]) -> int:
    """Apply each mutant alone to a fresh copy and run `tests` on it; 1 when any mutant survived."""
    survived = 0
    with tempfile.TemporaryDirectory(prefix="apply-one-") as scratch:
        copy = Path(scratch) / PACKAGE
        (Path(scratch) / f"{GUARD_MODULE}.py").write_text(GUARD, encoding="utf-8")
        # The package finds the suite's own files (contracts/, fixtures/, ...) next to itself: link them in.
        for entry in ROOT.iterdir():
            if entry.name not in (PACKAGE, "mutants", ".git"):
                (Path(scratch) / entry.name).symlink_to(entry)
        for name in names:
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(ROOT / PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
            (Path(scratch) / module).write_text(mutated_source(module, mutants, name), encoding="utf-8")
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([scratch, os.environ.get("PYTHONPATH", "")]).rstrip(":")}
            command = [sys.executable, "-P", "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", "no:xdist"]
            done = subprocess.run(
                [*command, "-p", GUARD_MODULE, *tests], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800
            )
            if done.returncode == GUARD_EXIT:
                raise SystemExit(f"{name}: the tests did not import the scratch copy:\n{done.stdout[-2000:]}")
            lines = [line for line in done.stdout.splitlines() if line.strip()]
            first = next((line for line in lines if line.startswith(("FAILED", "ERROR"))), "")
            killed = done.returncode != 0
            survived += not killed
            print(
                f"{name.rsplit('.', 1)[-1]}: {'KILLED' if killed else 'SURVIVED'} | {lines[-1] if lines else ''} | {first}"
            )
    return 1 if survived else 0


def main(argv: list[str] | None = None) -> int:
    """Command line: MODULE --tests TEST... -- MUTANT..."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("module", help=f"the mutated module, e.g. {PACKAGE}/clients/cloudflare.py")
    parser.add_argument("--tests", nargs="+", required=True, help="the tests to run on each mutant")
    parser.add_argument(
        "--mutants", type=Path, default=ROOT / "mutants", help="mutmut's working copy (default: mutants/)"
    )
    parser.add_argument("names", nargs="+", help="mutant names as the record lists them")
    args = parser.parse_args(argv)
    if not args.module.startswith(f"{PACKAGE}/"):
        parser.error(f"{args.module}: give the module's path below the checkout, starting with {PACKAGE}/")
    return run(args.module, args.mutants, args.tests, args.names)


if __name__ == "__main__":
    sys.exit(main())
