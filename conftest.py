"""Wires the infracore-verify plugin into every run from this checkout."""

pytest_plugins = ["infracore_verify.plugin"]
