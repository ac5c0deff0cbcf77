"""One pytest test per recovery action (ids are action ids: test_recovery[recover-vaultwarden-container])."""

from __future__ import annotations

from infracore_verify.plugin.recovery import Recover, RecoveryAction


def test_recovery(recovery_action: RecoveryAction, recover: Recover) -> None:
    """Runs one recovery action when a trigger failed in this run (or --recover names it), bounded and audited."""
    recover(recovery_action)
