"""Troubleshooting: the checks behind ``tollhouse doctor``, the start-up warnings of
``tollhouse serve`` and the token explanations of ``tollhouse token inspect``.

The check modules return :class:`~tollhouse.diagnostics.findings.Finding` values and
print nothing; the CLI decides how to show them. Only :mod:`.doctor`, :mod:`.remote`
and :mod:`.inspect` touch the database or the network, to gather the facts the pure
checks judge.
"""
