"""Wires the infracore-verify plugins into every run from this checkout."""

pytest_plugins = ["infracore_verify.plugin", "fixtures.pytest_plugin", "fixtures.recovery_plugin"]
