"""Tests of the ``tollhouse`` console script (the keys themselves: tests/keys/)."""
