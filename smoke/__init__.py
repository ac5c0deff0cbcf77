"""Smoke probes: one pytest test per smoke capability of the baseline contract."""
