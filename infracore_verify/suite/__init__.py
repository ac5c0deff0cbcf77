"""The embedded test layer: the single gate, probe and recovery tests, parametrized by the plugin.

The checkout's `gates/`, `smoke/` and `recovery/` import these functions; an installed plugin run from a
directory with nothing to collect (or the `infracore-verify` command) collects this folder instead.
"""

from pathlib import Path

SUITE_DIR = Path(__file__).resolve().parent
"""This folder: what the plugin collects from an empty directory and the `infracore-verify` command runs."""
