"""The gate engine: runs one registry gate (native, script, composite or missing) and returns its result.

pytest-free: the plugin turns a `GateResult` into a test outcome, report attachments and receipt rows.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from infracore_verify.contracts.findings import Finding, render_all
from infracore_verify.contracts.model import Gate, Registry
from infracore_verify.contracts.sets import Contracts
from infracore_verify.contracts.verdict import NotApplicableError, Verdict
from infracore_verify.gates.checks import NATIVE, GateBugError
from infracore_verify.gates.checks.base import ContractView, NativeCheck, input_documents
from infracore_verify.gates.checks.ops_inline import INLINE
from infracore_verify.gates.classify import Classifier
from infracore_verify.gates.scripts import run_script, script_problem, tool_problem
from infracore_verify.smoke.registry import ProbeVerdict

MAX_MESSAGE_FINDINGS = 50
"""Findings listed in a failure message; the full list goes to the report attachment."""
DEFAULT_HANG_GUARD = 300.0
"""Seconds after which a single gate's script is killed as hung (`--gate-hang-guard`); not the ring budget."""
WARNING = "warning"
"""Severity of a finding that is reported but does not fail its gate (the ops repository's WARN)."""
TIMEOUT_CLASS = "timeout"
"""Failure class of a gate the hang guard killed: it reached no verdict."""


@dataclass
class GateResult:
    """The outcome of one gate: verdict, how it ran, its findings, and whether the gate itself is broken."""

    gate: Gate
    verdict: Verdict
    """'pass', 'fail', 'skip' or 'not-applicable'."""
    kind: str
    """'native', 'script', 'composite', 'inline' or 'missing'."""
    findings: list[Finding] = field(default_factory=list)
    detail: str = ""
    """One line that says why (for a skip, a script failure or a gate bug)."""
    output: str = ""
    """Captured script output."""
    gate_bug: bool = False
    parts: list[GateResult] = field(default_factory=list)
    seconds: float = 0.0
    failure_class: str = ""
    timed_out: bool = False
    """The hang guard killed the gate before it reached a verdict (failure class `timeout`)."""

    @property
    def passed(self) -> bool:
        """Return True when the gate passed."""
        return self.verdict == Verdict.PASS

    def headline(self) -> str:
        """Return the ops-style first line, e.g. `D127 FAIL: 2 finding(s) [deterministic]`."""
        if self.verdict == Verdict.PASS:
            warnings = sum(1 for f in self.findings if f.severity == WARNING)
            return f"{self.gate.id} PASS: {self.gate.name}" + (f" ({warnings} warning(s))" if warnings else "")
        if self.verdict == Verdict.SKIP:
            return f"{self.gate.id} SKIP: {self.detail}"
        if self.verdict == Verdict.NOT_APPLICABLE:
            return f"{self.gate.id} NOT APPLICABLE: {self.detail}"
        if self.timed_out:
            return f"{self.gate.id} TIMEOUT: {self.detail} [{TIMEOUT_CLASS}]"
        what = self.detail or f"{len(self.findings)} finding(s)"
        return f"{self.gate.id} FAIL: {what} [{self.failure_class}]"

    def message(self) -> str:
        """Return the failure text shown in the terminal, JUnit and the report."""
        lines = [self.headline()]
        shown = sorted(self.findings, key=lambda f: (f.file, f.line, f.path, f.message))[:MAX_MESSAGE_FINDINGS]
        lines += [f"  {f.render()}" for f in shown]
        if len(self.findings) > MAX_MESSAGE_FINDINGS:
            lines.append(f"  ... and {len(self.findings) - MAX_MESSAGE_FINDINGS} more (see the report attachment)")
        for part in self.parts:
            lines.append(f"  part {part.headline()}")
            lines += [f"    {f.render()}" for f in part.findings[:10]]
        if self.kind == "script" and self.verdict == Verdict.FAIL and self.output:
            tail = self.output.rstrip().splitlines()[-20:]
            lines += ["  script output (last lines):", *(f"    {line}" for line in tail)]
        if self.verdict == Verdict.FAIL and self.gate.fix_hint:
            lines.append(f"  fix hint: {self.gate.fix_hint}")
        return "\n".join(lines)

    def findings_table(self) -> str:
        """Return every finding as text, one per line (the report attachment)."""
        return render_all(self.findings)


def native_for(gate: Gate) -> NativeCheck | None:
    """Return the gate's native implementation: by id, or the port of an inline gate (only when `inline: true`)."""
    return NATIVE.get(gate.id) or (INLINE.get(gate.id) if gate.inline else None)


@dataclass
class Engine:
    """Runs gates of one contract set."""

    contracts: Contracts
    registry: Registry
    classifier: Classifier
    budgets: dict[str, int]
    probe_runner: Callable[[str], ProbeVerdict] | None = None
    """Runs one smoke probe by id (provided by the smoke fixtures; live gates need it)."""
    hang_guard: float = DEFAULT_HANG_GUARD
    """Seconds after which a gate's script is killed as hung; the ring budget applies to the run, not here."""

    def run(self, gate: Gate) -> GateResult:
        """Run a gate and return its classified result; never raises for a gate's own failure."""
        started = time.monotonic()
        result = self._run(gate, set())
        result.seconds = time.monotonic() - started
        if result.verdict == Verdict.FAIL:
            result.failure_class = self._classify(result)
        return result

    def _classify(self, result: GateResult) -> str:
        """Return a failed result's class: `timeout` when the hang guard killed it (or every failed part)."""
        if result.timed_out:
            return TIMEOUT_CLASS
        return self.classifier.classify(result.gate, result.gate_bug)

    def _run(self, gate: Gate, active: set[str]) -> GateResult:
        if gate.composite_of or gate.probes:
            return self._composite(gate, active)
        check = native_for(gate)
        if check is not None:
            return self._native(gate, check)
        if gate.inline:
            return GateResult(
                gate, Verdict.SKIP, "inline", detail="inline gate: runs inside surfaces/verify/drift-gate.sh"
            )
        if gate.check_script:
            return self._script(gate)
        return GateResult(
            gate,
            Verdict.FAIL,
            "missing",
            detail="no implementation (no native check and no check_script)",
            gate_bug=True,
        )

    def _native(self, gate: Gate, check: NativeCheck) -> GateResult:
        load_errors = [e for doc in input_documents(self.contracts, check.reads) for e in doc.errors]
        if load_errors:
            return GateResult(gate, Verdict.FAIL, "native", findings=load_errors)
        try:
            findings = list(check.func(ContractView(self.contracts, check.reads)))
        except NotApplicableError as exc:
            return GateResult(gate, Verdict.NOT_APPLICABLE, "native", detail=str(exc))
        except GateBugError as exc:  # no verdict: a helper the ops script runs unguarded, or a tool, is missing
            bug = [Finding(f.file, f.line, f.path, f.message, f.fix, gate.id, f.severity) for f in exc.findings]
            return GateResult(gate, Verdict.FAIL, "native", findings=bug, detail=exc.detail, gate_bug=True)
        except Exception as exc:  # a crash is the gate's bug, reported without a traceback
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            where = f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"
            return GateResult(
                gate,
                Verdict.FAIL,
                "native",
                detail=f"gate crashed: {type(exc).__name__}: {exc} (at {where})",
                gate_bug=True,
            )
        findings = [Finding(f.file, f.line, f.path, f.message, f.fix, gate.id, f.severity) for f in findings]
        failing = any(f.severity != WARNING for f in findings)
        return GateResult(gate, Verdict.FAIL if failing else Verdict.PASS, "native", findings=findings)

    def _script(self, gate: Gate) -> GateResult:
        assert gate.check_script is not None
        problem = script_problem(self.contracts.root, gate.check_script)
        if problem:
            return GateResult(gate, Verdict.FAIL, "script", detail=f"{problem[0]}; {problem[1]}", gate_bug=True)
        missing_tool = tool_problem(self.contracts.root, gate.check_script)
        if missing_tool:  # the machine's fault, never the repository's
            return GateResult(gate, Verdict.FAIL, "script", detail=missing_tool, gate_bug=True)
        run = run_script(self.contracts.root, gate.check_script, self.hang_guard)
        if run.timed_out:
            return GateResult(
                gate,
                Verdict.FAIL,
                "script",
                detail=f"no verdict: the hang guard killed the script after {self.hang_guard:g}s (--gate-hang-guard)",
                output=run.output,
                timed_out=True,
            )
        if run.returncode != 0:
            reason = next(
                (line.strip() for line in reversed(run.output.splitlines()) if line.startswith(f"{gate.id} FAIL")),
                f"exit code {run.returncode}",
            )
            return GateResult(
                gate, Verdict.FAIL, "script", detail=reason.removeprefix(f"{gate.id} FAIL: "), output=run.output
            )
        return GateResult(gate, Verdict.PASS, "script", output=run.output)

    def _probe(self, probe_id: str) -> GateResult:
        stub = Gate(probe_id, "smoke probe")
        if self.probe_runner is None:
            missing = GateResult(
                stub,
                Verdict.FAIL,
                "probe",
                detail="live gate without a probe runner (load infracore_verify.plugin.smoke)",
                gate_bug=True,
            )
            missing.failure_class = "gate_bug"
            return missing
        outcome = self.probe_runner(probe_id)
        result = GateResult(stub, outcome.verdict, "probe", detail=outcome.message)
        result.failure_class = outcome.failure_class or "" if outcome.verdict == Verdict.FAIL else ""
        return result

    def _composite(self, gate: Gate, active: set[str]) -> GateResult:
        parts: list[GateResult] = []
        for part_id in gate.composite_of:
            part = self.registry.by_id.get(part_id)
            if part is None or part_id in active | {gate.id}:
                why = "is not registered" if part is None else "forms a composite cycle"
                stub = Gate(part_id, part.name if part else part_id)
                parts.append(GateResult(stub, Verdict.FAIL, "missing", detail=f"part {part_id} {why}", gate_bug=True))
                continue
            result = self._run(part, active | {gate.id})
            result.failure_class = self._classify(result) if result.verdict == Verdict.FAIL else ""
            parts.append(result)
        parts += [self._probe(probe_id) for probe_id in gate.probes]
        check = native_for(gate)
        own = self._native(gate, check) if check is not None else None
        failed = [p for p in parts if p.verdict == Verdict.FAIL] + (
            [own] if own and own.verdict == Verdict.FAIL else []
        )
        result = GateResult(gate, Verdict.FAIL if failed else Verdict.PASS, "composite", parts=parts)
        if own is not None:
            result.findings = own.findings
        if failed:
            result.detail = f"{len(failed)} of {len(parts) + (own is not None)} part(s) failed"
            result.gate_bug = all(p.gate_bug for p in failed)
            result.timed_out = all(p.timed_out for p in failed)
        return result
