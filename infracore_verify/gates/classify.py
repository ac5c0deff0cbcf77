"""Failure classification: gate_bug, freshness or deterministic, per the classification contract."""

from __future__ import annotations

import re
from dataclasses import dataclass

from infracore_verify.contracts.loader import Document
from infracore_verify.contracts.model import Gate, as_list

DEFAULT_KEYWORDS = ("freshness", "snapshot", "stale", "age", "index", "telemetry")


@dataclass(frozen=True)
class Classifier:
    """Keyword rules from verify.failure.classification.contract.yaml."""

    keywords: tuple[str, ...] = DEFAULT_KEYWORDS
    mode: str = "substring"
    use_gate_class: bool = False

    @classmethod
    def from_doc(cls, doc: Document | None) -> Classifier:
        """Build the classifier from the contract (ops defaults when it does not load)."""
        if doc is None or not doc.ok:
            return cls()
        data = doc.data
        return cls(
            keywords=tuple(str(k).lower() for k in as_list(data.get("freshness_keywords"))) or DEFAULT_KEYWORDS,
            mode=str(data.get("keyword_match") or "substring"),
            use_gate_class=data.get("use_gate_class") is True,
        )

    def matches(self, gate: Gate, mode: str | None = None) -> bool:
        """Return True when the gate reads as a freshness gate under `mode` (default: the contract's)."""
        haystack = f"{gate.name} {gate.description}".lower()
        if (mode or self.mode) == "word":
            words = set(re.split(r"[^a-z0-9]+", haystack))
            hit = any(k in words for k in self.keywords)
        else:
            # The ops classifier: a keyword anywhere, even inside a longer word ("coverage" has "age").
            hit = any(k in haystack for k in self.keywords)
        return hit or (self.use_gate_class and gate.gate_class == "freshness")

    def classify(self, gate: Gate, gate_bug: bool) -> str:
        """Return the failure class of a failing gate: first match of gate_bug, freshness, deterministic."""
        if gate_bug:
            return "gate_bug"
        return "freshness" if self.matches(gate) else "deterministic"

    def disagreement(self, gate: Gate) -> str | None:
        """Return a note when substring and whole-word matching classify the gate differently."""
        sub, word = self.matches(gate, "substring"), self.matches(gate, "word")
        if sub == word:
            return None
        return f"substring mode says {'freshness' if sub else 'deterministic'}, word mode says " + (
            "freshness" if word else "deterministic"
        )
