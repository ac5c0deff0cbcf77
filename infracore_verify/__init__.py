"""infracore-verify: a pytest verification suite for the infra-core stack."""

from __future__ import annotations

__version__ = "0.1.0"
