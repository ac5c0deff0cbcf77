"""One pytest test per recovery action (ids are action ids: test_recovery[recover-vaultwarden-container]); defined in the package."""

from infracore_verify.suite.test_recovery import test_recovery

__all__ = ["test_recovery"]
