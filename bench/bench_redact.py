"""Benchmark: masking throughput of the redactor, on text without and with percent-encoded letters.

The redactor masks every report, log line, JUnit file and Allure attachment, so its speed is the suite's.
The script registers `--secrets` (default 50) fake values, half of them needing URL quoting, and builds about
`--megabytes` (default 4) of log-like text with every secret planted 20 times in a mix of its forms (raw,
URL-encoded, base64, JSON-escaped). It times `Redactor.mask` per megabyte on:

(a) usual text: no percent-encoded letter, digit or `-._~` anywhere (`UNRESERVED_ESCAPE` does not match), so
    the usual alternation runs;
(b) escaped text: the same text with each line starting `%41` and some secrets written with every byte
    percent-encoded, so the text is also masked with its escapes decoded (a decode pass and a second
    alternation pass; rare in practice: clients need not encode those characters).

Checks (always): every planted secret is masked in both texts (no registered value, in any planted form,
is left in the output) and the count of masks equals the count planted.
Targets (full mode): usual text <= 250 ms per MB, escaped text <= 500 ms per MB (the median of `--repeat`,
default 5). Measured 2026-12-06 on the 2-core machine, load 0.6: 74 and 153 ms per MB (bench/README.md).

`--short` (a check that it still works, for CI): 1 MB, one repeat; every check applies, the timing targets are
printed as information only. Prints `RESULT: PASS` (exit 0) or `RESULT: FAIL` (exit 1).

Usage: `.venv/bin/python bench/bench_redact.py [--short] [--secrets 50] [--megabytes 4] [--repeat 5]`.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import statistics
import string
import sys
import time
from urllib.parse import quote, quote_plus

from infracore_verify.redact import UNRESERVED_ESCAPE, Redactor

USUAL_TARGET_MS = 250.0
ESCAPED_TARGET_MS = 500.0
PLANTS_PER_SECRET = 20
FILLER = string.ascii_letters + string.digits + "  ,:=/-_.[]{}\"'"


def secrets(count: int, rng: random.Random) -> list[str]:
    """Fake values of 20 to 40 characters; every other one has a space, a slash or a plus (needs quoting)."""
    out = []
    for n in range(count):
        body = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(rng.randint(16, 36)))
        out.append(f"FAKE-{body}" if n % 2 == 0 else f"FAKE {body[:8]}/{body[8:]}+{n}")
    return out


def every_byte(value: str) -> str:
    """The value with every byte percent-encoded."""
    return "".join(f"%{b:02X}" for b in value.encode("utf-8"))


def forms(value: str, escaped: bool) -> list[str]:
    """The forms a secret is planted in; with `escaped`, also with every byte percent-encoded."""
    planted = [
        value,
        quote(value, safe=""),
        quote_plus(value),
        base64.b64encode(value.encode()).decode(),
        json.dumps(value)[1:-1],
    ]
    return [*planted, every_byte(value)] if escaped else planted


def build_text(values: list[str], megabytes: float, escaped: bool, rng: random.Random) -> tuple[str, int]:
    """Log-like lines of filler with the secrets planted; return the text and how many secrets were planted."""
    plants = [form for value in values for form in forms(value, escaped) for _ in range(PLANTS_PER_SECRET // 5)]
    rng.shuffle(plants)
    target = int(megabytes * 1024 * 1024)
    lines: list[str] = []
    size = 0
    while size < target:
        filler = "".join(rng.choice(FILLER) for _ in range(rng.randint(60, 160)))
        line = f"{'%41 ' if escaped else ''}{len(lines):07d} {filler}"
        if plants:
            line += f" value={plants.pop()} end"
        lines.append(line)
        size += len(line) + 1
    planted = sum(1 for line in lines if " value=" in line)
    return "\n".join(lines) + "\n", planted


def measure(redactor: Redactor, text: str, repeat: int) -> tuple[float, str]:
    """Median milliseconds per megabyte of `repeat` masks of the text, and the masked text."""
    times = []
    masked = ""
    for _ in range(repeat):
        started = time.perf_counter()
        masked = redactor.mask(text)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000 / (len(text) / 1024 / 1024), masked


def check(name: str, values: list[str], masked: str, planted: int, escaped: bool) -> list[str]:
    """Problems with one masked text: a planted form left visible, or masks not matching the plants."""
    problems = []
    for value in values:
        for form in forms(value, escaped):
            if form in masked:
                problems.append(f"{name}: a planted form of a secret is left visible: {form[:12]}...")
                break
    count = masked.count("[REDACTED:")
    if count != planted:
        problems.append(f"{name}: {count} masks for {planted} planted secrets")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the numbers and `RESULT: PASS` or `RESULT: FAIL`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="1 MB, one repeat; targets as information only")
    parser.add_argument("--secrets", type=int, default=50)
    parser.add_argument("--megabytes", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    megabytes, repeat = (1.0, 1) if args.short else (args.megabytes, args.repeat)
    rng = random.Random(20261206)
    values = secrets(args.secrets, rng)
    redactor = Redactor()
    for n, value in enumerate(values):
        redactor.register(value, f"bench.secret{n}")
    problems: list[str] = []
    results = {}
    for name, escaped, target in (("usual", False, USUAL_TARGET_MS), ("escaped", True, ESCAPED_TARGET_MS)):
        text, planted = build_text(values, megabytes, escaped, rng)
        if bool(UNRESERVED_ESCAPE.search(text)) != escaped:
            problems.append(f"{name}: the text {'lacks' if escaped else 'holds'} a percent-encoded letter")
        per_mb, masked = measure(redactor, text, repeat)
        results[name] = per_mb
        problems += check(name, values, masked, planted, escaped)
        verdict = "information only (--short)" if args.short else ("ok" if per_mb <= target else "OVER TARGET")
        print(
            f"{name:8} text: {len(text) / 1024 / 1024:.1f} MB, {planted} secrets planted, "
            f"{per_mb:.0f} ms per MB (median of {repeat}; target <= {target:.0f}): {verdict}"
        )
        if not args.short and per_mb > target:
            problems.append(f"{name}: {per_mb:.0f} ms per MB is over the target {target:.0f}")
    for problem in problems:
        print(f"FAILED: {problem}")
    print("RESULT: PASS" if not problems else "RESULT: FAIL")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
