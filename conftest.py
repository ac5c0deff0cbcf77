"""Wires the checkout's own fixtures; the plugin itself comes from the installed package (pytest11 entry point)."""

pytest_plugins = ["fixtures.clients"]
