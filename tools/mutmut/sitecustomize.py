"""Runs at the start of every Python process of a `make mutate` run (tools/mutmut is on its PYTHONPATH).

Sets mutmut's config up before any import of `infracore_verify` (see `mutmut_child`); inert when no mutmut run
is going on. Only `tools/mutmut/run.py` puts this directory on PYTHONPATH.
"""

try:
    import mutmut_child

    mutmut_child.apply_overrides()
    mutmut_child.child_setup()
except ImportError:  # a Python without mutmut (a venv a test builds): nothing to set up
    pass
