"""The pytest plugin (entry point `infracore_verify.plugin`): one module per concern, registered here.

- `options`: the `infra-core verification` option group and ini values;
- `gates`: markers, run state and gate plan at configure, `--list-gates`, gate parametrization, `run_gate`;
- `recorder`: marks reports, masks secrets in them, gathers rows and writes the receipt;
- `summary`: the terminal header and summary;
- `smoke`: probe options, parametrization and `run_probe`; `fixtures`: environment, sandbox, credentials,
  the client factory;
- `recovery`: recovery options, parametrization and `recover`.

`state` (the shared run state and option readers), `planning`, `receipt`, `allure` and `xdist` are
helpers of these, not plugins.
"""

pytest_plugins = [
    # A module that another one imports comes first (pytest can then rewrite its asserts).
    "infracore_verify.plugin.options",
    "infracore_verify.plugin.recorder",
    "infracore_verify.plugin.summary",
    "infracore_verify.plugin.fixtures",
    "infracore_verify.plugin.gates",
    "infracore_verify.plugin.smoke",
    "infracore_verify.plugin.recovery",
]
