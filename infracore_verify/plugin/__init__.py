"""The pytest plugin (entry point `infracore_verify.plugin`): registers one module per concern."""

pytest_plugins = [
    "infracore_verify.plugin.core",
    "infracore_verify.plugin.smoke",
    "infracore_verify.plugin.recovery",
]
