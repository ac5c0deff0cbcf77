"""Run mutmut 3.8.1 on one module (or a named plan) with its chosen tests, and record the result.

    python tools/mutmut/run.py PLAN [--tag before|after]          # a plan from tools/mutmut/plans.toml
    python tools/mutmut/run.py --module infracore_verify/x.py --tests tests/test_x.py [--only PATTERN ...]
    python tools/mutmut/run.py PLAN --tag after --rerun-from tools/mutmut/results/PLAN-before.txt
    python tools/mutmut/run.py --list                               # the plans

`make mutate PLAN=...` (or `MODULE=... TESTS="..."`) calls it. Each run starts from an empty `mutants/`
(mutmut's working copy, git-ignored) and leaves it there for `mutmut show <mutant>`; the plan's module and
tests reach mutmut through `MUTMUT_OVERRIDES` (see mutmut_child.py), so pyproject's `[tool.mutmut]` keeps only
what all plans share. `--only` limits a run to some functions of the module (mutmut mutant-name globs).

`--rerun-from` reruns only the mutants an earlier record left alive (new tests cannot revive a killed mutant)
and adds that record's killed count to the new one, so an "after" run costs the survivors only.

The record goes to tools/mutmut/results/<plan>[-<tag>].txt: the command, the counts, the wall time and, for every
mutant not killed, mutmut's diff. Runs outside .ci/run: minutes per module on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "tools" / "mutmut"
PLANS = HERE / "plans.toml"
RESULTS = HERE / "results"
BIN = Path(sys.executable).parent
ORDER = ("killed", "survived", "no tests", "timeout", "suspicious", "segfault", "not checked", "skipped")


def load_plans() -> dict[str, dict[str, Any]]:
    """The plans of tools/mutmut/plans.toml, by name."""
    with PLANS.open("rb") as fh:
        return dict(tomllib.load(fh)["plan"])


def env_for(modules: list[str], tests: list[str]) -> dict[str, str]:
    """The environment of the mutmut process: the mutated copy and tools/mutmut first, the plan's config."""
    env = dict(os.environ)
    env.pop("MUTANT_UNDER_TEST", None)
    env.pop("MUTMUT_BRIDGE_DIR", None)
    paths = [str(ROOT / "mutants"), str(HERE)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTEST_PLUGINS"] = "mutmut_bridge"
    env["MUTMUT_BRIDGE_ROOT"] = str(ROOT)
    env["MUTMUT_OVERRIDES"] = json.dumps({"only_mutate": modules, "pytest_add_cli_args_test_selection": tests})
    return env


def mutant_statuses(env: dict[str, str], only: list[str]) -> dict[str, str]:
    """mutmut's status of every mutant of the run's module(s), limited to the `only` globs when given."""
    out = subprocess.run(
        [str(BIN / "mutmut"), "results", "--all", "true"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    statuses: dict[str, str] = {}
    for line in out.stdout.splitlines():
        match = re.match(r"\s+(\S+): (.+)$", line)
        if match and (not only or any(fnmatch.fnmatch(match.group(1), p) for p in only)):
            statuses[match.group(1)] = match.group(2).strip()
    return statuses


def diff_of(env: dict[str, str], name: str) -> str:
    """mutmut's diff for one mutant."""
    out = subprocess.run([str(BIN / "mutmut"), "show", name], cwd=ROOT, env=env, capture_output=True, text=True)
    return out.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run mutmut, write and print the record; exit status 0 unless mutmut failed."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("plan", nargs="?", help="a plan of tools/mutmut/plans.toml")
    parser.add_argument("--module", action="append", default=[], help="module to mutate (repeatable)")
    parser.add_argument("--tests", nargs="+", default=[], help="pytest selection (files or node ids)")
    parser.add_argument("--only", action="append", default=[], help="mutant-name glob to limit the run to")
    parser.add_argument("--tag", default="", help="suffix of the record file (before, after)")
    parser.add_argument("--rerun-from", type=Path, help="rerun only the mutants this record left alive")
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--list", action="store_true", help="list the plans and exit")
    parser.add_argument("--names", action="store_true", help="print the plan names, one a line, and exit")
    args = parser.parse_args(argv)

    plans = load_plans()
    if args.names:
        print("\n".join(plans))
        return 0
    if args.list:
        for name, plan in plans.items():
            print(f"{name:10} {' '.join(map(str, plan['modules']))}  <- {' '.join(map(str, plan['tests']))}")
        return 0
    if args.plan:
        if args.plan not in plans:
            parser.error(f"unknown plan {args.plan!r}; plans: {', '.join(plans)} (tools/mutmut/plans.toml)")
        plan = plans[args.plan]
        modules = [str(m) for m in plan["modules"]]
        tests = args.tests or [str(t) for t in plan["tests"]]
        only = args.only or [str(p) for p in plan.get("only", [])]
        name = args.plan
    elif args.module and args.tests:
        modules, tests, only = args.module, args.tests, args.only
        name = Path(modules[0]).stem
    else:
        parser.error("give a PLAN, or --module and --tests")

    earlier_killed = 0
    if args.rerun_from:
        text = args.rerun_from.read_text(encoding="utf-8")
        only = re.findall(r"^## [^:]+: (\S+)$", text, flags=re.MULTILINE)
        found = re.search(r"^mutants: (\d+);", text, flags=re.MULTILINE)
        if found is None:
            parser.error(f"{args.rerun_from}: not a record of tools/mutmut/run.py (no 'mutants: N;' line)")
        total = int(found.group(1))
        earlier_killed = total - len(only)
        if not only:
            print(f"{args.rerun_from}: no mutant left alive; nothing to rerun")
            return 0
    env = env_for(modules, tests)
    mutants_dir = ROOT / "mutants"
    shutil.rmtree(mutants_dir, ignore_errors=True)
    mutants_dir.mkdir()
    command = [str(BIN / "mutmut"), "run", "--max-children", str(args.max_children), *only]
    print("$", " ".join(shlex.quote(c) for c in command), flush=True)
    started = time.monotonic()
    status = subprocess.run(command, cwd=ROOT, env=env).returncode
    wall = time.monotonic() - started

    statuses = mutant_statuses(env, only)
    counts = Counter(statuses.values())
    counts["killed"] += earlier_killed
    total_mutants = len(statuses) + earlier_killed
    summary = ", ".join(f"{counts[k]} {k}" for k in ORDER if counts[k]) or "no mutants"
    lines = [
        f"# mutmut record: {name}{' (' + args.tag + ')' if args.tag else ''}",
        f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; load average {os.getloadavg()[0]:.2f}",
        f"command: python tools/mutmut/run.py {' '.join(shlex.quote(a) for a in (argv or sys.argv[1:]))}",
        f"modules: {' '.join(modules)}",
        f"tests: {' '.join(tests)}",
        f"only: {' '.join(only) or '(all mutants of the modules)'}"
        if not args.rerun_from
        else f"rerun: the {len(only)} mutants {args.rerun_from.name} left alive ({earlier_killed} killed there)",
        f"mutmut exit status: {status}",
        f"mutants: {total_mutants}; {summary}; wall {wall:.0f} s",
        "",
    ]
    for mutant, state in sorted(statuses.items()):
        if state != "killed":
            lines += [f"## {state}: {mutant}", diff_of(env, mutant), ""]
    RESULTS.mkdir(exist_ok=True)
    record = RESULTS / f"{name}{'-' + args.tag if args.tag else ''}.txt"
    record.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"\n{name}: {total_mutants} mutants; {summary}; wall {wall:.0f} s -> {record.relative_to(ROOT)}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
