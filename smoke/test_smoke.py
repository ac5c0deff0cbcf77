"""One pytest test per smoke probe (ids are capability ids: test_probe[cloudflare.zone.list]); defined in the package."""

from infracore_verify.suite.test_smoke import test_probe

__all__ = ["test_probe"]
