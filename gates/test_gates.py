"""One pytest test per selected gate of the registry (ids are gate ids: test_gate[D320]); defined in the package."""

from infracore_verify.suite.test_gates import test_gate

__all__ = ["test_gate"]
