"""Tests of the ``tollhouse`` console script (a package: tests/test_keys.py exists too)."""
