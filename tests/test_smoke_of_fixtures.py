"""The test fixtures themselves work: a copied contract set loads cleanly."""

from __future__ import annotations

from collections.abc import Callable

from infracore_verify.contracts import Contracts


def test_copied_contracts_load(open_contracts: Callable[[], Contracts]) -> None:
    """Every shipped contract loads without findings from a private copy."""
    contracts = open_contracts()
    problems = [f.render() for doc in contracts.documents() for f in doc.errors]
    assert problems == []
