"""Each grant declares the form parameters it reads (``parameters``); the OpenAPI
``/token`` description is built from those declarations, so they must stay true."""

from __future__ import annotations

import ast
import inspect
import sys

import pytest

from tollhouse.protocol.grants import Grant
from tollhouse.web.openapi import GRANTS


def _is_params(node: ast.expr) -> bool:
    """``params`` or ``request.params``: a grant's form parameters."""
    return (isinstance(node, ast.Name) and node.id == "params") or (
        isinstance(node, ast.Attribute) and node.attr == "params"
    )


def _literal(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def parameters_read(grant: type[Grant]) -> set[str]:
    """Names in ``params.get("x")``, ``require(params, "x")`` and ``"x" in params``."""
    tree = ast.parse(inspect.getsource(sys.modules[grant.__module__]))
    found: set[str] = set()
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "get" and _is_params(func.value):
                name = _literal(node.args[0])
            elif isinstance(func, ast.Name) and func.id == "require" and len(node.args) == 2:
                name = _literal(node.args[1]) if _is_params(node.args[0]) else None
        elif isinstance(node, ast.Compare) and isinstance(node.ops[0], ast.In):
            name = _literal(node.left) if _is_params(node.comparators[0]) else None
        if name is not None:
            found.add(name)
    return found


@pytest.mark.parametrize("grant", GRANTS, ids=lambda g: g.grant_type)
def test_grant_declares_exactly_the_parameters_it_reads(grant: type[Grant]) -> None:
    assert parameters_read(grant) == set(grant.parameters)


def test_grant_parameters_are_listed_once() -> None:
    for grant in GRANTS:
        assert len(set(grant.parameters)) == len(grant.parameters), grant
