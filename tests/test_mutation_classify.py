"""Failure classification cases that kill mutmut's survivors (issue 8, item 4); see bench/MUTATION.md.

The classifier is built from a classification contract written by the test (through the loader), and asked
for the failure class of gates whose name and description are chosen so that substring and whole-word
matching, the keyword list and `use_gate_class` each decide one case.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infracore_verify.contracts.model import Gate
from infracore_verify.contracts.sets import Contracts
from infracore_verify.gates.classify import DEFAULT_KEYWORDS, Classifier

CONTRACT = "verify.failure.classification.contract.yaml"
SHIPPED_KEYS = ("freshness_keywords:", "keyword_match:", "use_gate_class:")

COVERAGE = Gate("D1", "coverage-lock", "Counts the coverage of every domain.")
"""'age' inside 'coverage': freshness for substring matching only."""
STALE = Gate("D2", "stale-snapshot-lock", "Checks the snapshot.")
PLAIN = Gate("D3", "registry-parity", "Counts gates.")
"""No keyword in either mode."""
FRESH_CLASS = Gate("D4", "plain-lock", "Counts gates.", gate_class="freshness")
"""No keyword, but gate_class freshness."""
DESCRIBED = Gate("D5", "plain-lock", "The telemetry of the cluster.")
"""The keyword is in the description only."""
UPPER = Gate("D6", "Stale-Lock", "CHECKS THE INDEX.")


def classifier(contracts_dir: Path, body: str) -> Classifier:
    """Replace the shipped contract's keyword settings with `body`; build the classifier the plugin would."""
    path = contracts_dir / CONTRACT
    kept = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith(SHIPPED_KEYS)]
    if "freshness_keywords:" not in body:
        body = f"freshness_keywords: [{', '.join(DEFAULT_KEYWORDS)}]\n{body}"
    path.write_text("\n".join(kept) + "\n" + body, encoding="utf-8")
    doc = Contracts.open(contracts_dir, contracts_dir.parent).doc("classification")
    assert doc.ok, doc
    return Classifier.from_doc(doc)


def test_without_a_contract_the_ops_defaults_apply() -> None:
    """No contract: the ops keywords, substring matching, gate_class ignored."""
    c = Classifier.from_doc(None)
    assert (c.keywords, c.mode, c.use_gate_class) == (DEFAULT_KEYWORDS, "substring", False)
    assert c.classify(COVERAGE, gate_bug=False) == "freshness"
    assert c.classify(FRESH_CLASS, gate_bug=False) == "deterministic"


def test_an_unloadable_contract_gives_the_ops_defaults(contracts_dir: Path) -> None:
    """A contract that does not load (broken YAML) falls back to the defaults instead of failing."""
    (contracts_dir / CONTRACT).write_text("freshness_keywords: [stale\n", encoding="utf-8")
    doc = Contracts.open(contracts_dir, contracts_dir.parent).doc("classification")
    assert not doc.ok
    c = Classifier.from_doc(doc)
    assert (c.keywords, c.mode, c.use_gate_class) == (DEFAULT_KEYWORDS, "substring", False)


def test_gate_bug_wins_over_a_freshness_keyword() -> None:
    """First match wins: a gate bug is a gate bug even when its name reads as freshness."""
    c = Classifier()
    assert c.classify(STALE, gate_bug=True) == "gate_bug"
    assert c.classify(PLAIN, gate_bug=True) == "gate_bug"
    assert c.classify(STALE, gate_bug=False) == "freshness"
    assert c.classify(PLAIN, gate_bug=False) == "deterministic"


def test_contract_keywords_replace_the_defaults_and_are_lowercased(contracts_dir: Path) -> None:
    """The contract's keywords are the whole list (lower-cased); the defaults no longer match."""
    c = classifier(contracts_dir, "freshness_keywords: [Parity]\nkeyword_match: word\n")
    assert c.keywords == ("parity",)
    assert c.classify(PLAIN, gate_bug=False) == "freshness"
    assert c.classify(STALE, gate_bug=False) == "deterministic"


@pytest.mark.parametrize(
    ("body", "coverage_class"),
    [
        pytest.param("keyword_match: substring\n", "freshness", id="substring"),
        pytest.param("keyword_match: word\n", "deterministic", id="word"),
        pytest.param("use_gate_class: false\n", "freshness", id="unset-is-substring"),
    ],
)
def test_keyword_match_mode_decides_a_keyword_inside_a_word(
    contracts_dir: Path, body: str, coverage_class: str
) -> None:
    """'age' inside 'coverage' is freshness for substring matching and deterministic for whole words."""
    c = classifier(contracts_dir, body)
    assert c.classify(COVERAGE, gate_bug=False) == coverage_class
    assert c.classify(STALE, gate_bug=False) == "freshness"
    assert c.classify(PLAIN, gate_bug=False) == "deterministic"


@pytest.mark.parametrize("mode", ["substring", "word"])
def test_description_and_case_count_in_both_modes(contracts_dir: Path, mode: str) -> None:
    """The keyword may be in the description only, and in any case, in either matching mode."""
    c = classifier(contracts_dir, f"keyword_match: {mode}\n")
    assert c.classify(DESCRIBED, gate_bug=False) == "freshness"
    assert c.classify(UPPER, gate_bug=False) == "freshness"


def test_word_mode_splits_on_any_non_alphanumeric_character(contracts_dir: Path) -> None:
    """Whole words are separated by any non-alphanumeric character, not only by spaces."""
    c = classifier(contracts_dir, "keyword_match: word\n")
    for name in ("lock_stale", "lock.stale", "lock/stale", "lock:stale"):
        assert c.classify(Gate("D7", name, ""), gate_bug=False) == "freshness", name
    assert c.classify(Gate("D7", "lock-stale2", ""), gate_bug=False) == "deterministic"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param("use_gate_class: true\n", "freshness", id="true"),
        pytest.param("use_gate_class: false\n", "deterministic", id="false"),
    ],
)
def test_use_gate_class_only_when_true(contracts_dir: Path, body: str, expected: str) -> None:
    """A freshness gate_class makes a keyword-less gate freshness only under `use_gate_class: true`."""
    c = classifier(contracts_dir, body)
    assert c.classify(FRESH_CLASS, gate_bug=False) == expected
    assert c.classify(PLAIN, gate_bug=False) == "deterministic"


def test_mode_argument_overrides_the_contract_mode() -> None:
    """`matches(gate, mode)` uses the given mode; without one, the contract's."""
    word, substring = Classifier(mode="word"), Classifier(mode="substring")
    assert word.matches(COVERAGE) is False
    assert word.matches(COVERAGE, "substring") is True
    assert substring.matches(COVERAGE) is True
    assert substring.matches(COVERAGE, "word") is False


def test_disagreement_names_both_modes_only_when_they_differ() -> None:
    """The note says which class each mode gives, and there is none when both agree."""
    c = Classifier()
    assert c.disagreement(COVERAGE) == "substring mode says freshness, word mode says deterministic"
    assert c.disagreement(STALE) is None
    assert c.disagreement(PLAIN) is None
    word_only = Classifier(keywords=("lock",))
    # "lock" is a whole word of "plain-lock" and a substring too: agreement; "locks" only a substring.
    assert word_only.disagreement(Gate("D8", "padlocks", "")) == (
        "substring mode says freshness, word mode says deterministic"
    )
    assert Classifier(keywords=("age",), mode="word").disagreement(COVERAGE) == (
        "substring mode says freshness, word mode says deterministic"
    )
