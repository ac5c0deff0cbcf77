"""The `infracore-verify` command: pytest on the embedded test layer, from any directory."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import pytest

from infracore_verify.suite import SUITE_DIR


def main(argv: Sequence[str] | None = None) -> int:
    """Run the embedded gates, probes and recovery tests with pytest's options (`infracore-verify -m fast`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    return int(pytest.main([str(SUITE_DIR), *args]))


if __name__ == "__main__":
    raise SystemExit(main())
