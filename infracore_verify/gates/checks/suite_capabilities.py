"""D909: what the suite would like tighter in the capability registry and the capability map.

The ops gates D63 and D67 do not look at these; the suite reports them apart so that the ported gates keep
the ops verdict: capability names with '__' (run keys split on it), domain_external capabilities without
their implementation, map entries with only one of plugin and script, and (in an ops repository, where
plugins live in `ops/plugins/<plugin>/bin/`) map entries whose script does not exist.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infracore_verify.contracts.findings import Finding
from infracore_verify.contracts.loader import Document
from infracore_verify.gates.checks.base import ContractView, native_gate


def _entries(doc: Document) -> dict[str, Any]:
    caps = doc.data.get("capabilities") if isinstance(doc.data, dict) else None
    return {str(k): v for k, v in caps.items()} if isinstance(caps, dict) else {}


def _script_candidates(root: Path, plugin: str, script: str) -> list[Path]:
    """Where a map entry's script may live: `bin/<script>` of the plugin, or the plugin-relative path given."""
    try:
        first = shlex.split(script)[0] if script.strip() else script
    except ValueError:
        first = script.split()[0] if script.split() else script
    base = root / "ops" / "plugins" / plugin
    return [base / "bin" / first, base / first]


@native_gate("D909", reads=("capabilities", "capability_map"))
def check_capability_extras(c: ContractView) -> Iterator[Finding]:
    """Checks capability names, domain_external implementations and that map entries name an existing plugin script."""
    caps_doc, map_doc = c["capabilities"], c["capability_map"]
    for name, entry in _entries(caps_doc).items():
        where = ("capabilities", name)
        if "__" in name:
            yield caps_doc.finding(
                where, f"capability name '{name}' contains '__'", "use single separators (run keys split on '__')"
            )
        if isinstance(entry, dict) and entry.get("plane") == "domain_external":
            for field in ("implementation_repo", "implementation_path"):
                if not entry.get(field):
                    yield caps_doc.finding(where, f"domain_external capability '{name}' has no {field}", f"set {field}")
    for name, entry in _entries(map_doc).items():
        if not isinstance(entry, dict):
            continue
        where = ("capabilities", name)
        plugin, script = entry.get("plugin"), entry.get("script")
        if (plugin is None) != (script is None):
            have, lack = ("plugin", "script") if script is None else ("script", "plugin")
            yield map_doc.finding(
                where,
                f"'{name}' has a {have} but {lack}: ~",
                f"set {lack}, or set both plugin and script to ~ for a capability without a plugin script",
            )
            continue
        if c.contracts.layout != "ops" or not isinstance(plugin, str) or not isinstance(script, str):
            continue
        candidates = _script_candidates(c.contracts.root, plugin, script)
        if not any(p.is_file() for p in candidates):
            shown = " nor ".join(str(p.relative_to(c.contracts.root)) for p in dict.fromkeys(candidates))
            yield map_doc.finding(
                where,
                f"'{name}' maps to plugin '{plugin}' script '{script}', but neither {shown} exists",
                "fix plugin/script in capability_map.yaml, or add the script",
            )
