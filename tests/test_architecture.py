"""The layers of ARCHITECTURE.md, checked by walking every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "tollhouse"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


MODULES = {module_name(p): imports_of(p) for p in SRC.rglob("*.py") if "migrations" not in p.parts}

# (package prefix, forbidden import prefixes)
RULES = [
    (
        "tollhouse.protocol",
        (
            "starlette",
            "sqlalchemy",
            "redis",
            "uvicorn",
            "tollhouse.web",
            "tollhouse.cli",
            "tollhouse.provider",
            "tollhouse.storage.sql",
            "tollhouse.storage.memory",
            "tollhouse.storage.redis",
            "tollhouse.observability",
            "prometheus_client",
        ),
    ),
    (
        "tollhouse.observability",
        (
            "starlette",
            "sqlalchemy",
            "redis",
            "tollhouse.web",
            "tollhouse.cli",
            "tollhouse.provider",
            "tollhouse.storage",
        ),
    ),
    (
        "tollhouse.storage",
        (
            "starlette",
            "tollhouse.protocol",
            "tollhouse.web",
            "tollhouse.cli",
            "tollhouse.provider",
            "tollhouse.keys",
        ),
    ),
    (
        "tollhouse.keys",
        ("starlette", "sqlalchemy", "tollhouse.web", "tollhouse.cli", "tollhouse.protocol"),
    ),
    (
        "tollhouse.security",
        ("starlette", "sqlalchemy", "tollhouse.web", "tollhouse.cli", "tollhouse.protocol"),
    ),
    ("tollhouse.web", ("sqlalchemy", "redis", "tollhouse.cli")),
    ("tollhouse.provider", ("starlette", "tollhouse.web", "tollhouse.cli")),
    ("tollhouse.errors", ("tollhouse.",)),
    ("tollhouse.algorithms", ("tollhouse.",)),
    ("tollhouse.diagnostics", ("starlette", "tollhouse.web", "tollhouse.cli")),
    ("tollhouse.models", ("tollhouse.protocol", "tollhouse.storage", "tollhouse.web")),
    (
        "tollhouse.resource",
        (
            "tollhouse.protocol",
            "tollhouse.storage",
            "tollhouse.web",
            "tollhouse.keys",
            "tollhouse.provider",
            "tollhouse.cli",
            "sqlalchemy",
        ),
    ),
]

RESOURCE_MAY_IMPORT = (
    "tollhouse.resource",
    "tollhouse.errors",
    "tollhouse.clock",
    "tollhouse.hosts",
    "tollhouse.algorithms",
)
"""The resource-server library is usable alone: of Tollhouse it needs only these leaves."""


# Storage adapters and the port decorators beside them: each may import the ports, the
# models, the errors, and its own modules; nothing else of tollhouse.
STORAGE_ADAPTERS = (
    "tollhouse.storage.sql",
    "tollhouse.storage.memory",
    "tollhouse.storage.redis",
    "tollhouse.storage.group_commit",
    "tollhouse.storage.hot_cache",
)
STORAGE_ADAPTERS_MAY_IMPORT = ("tollhouse.storage.ports", "tollhouse.models", "tollhouse.errors")


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


@pytest.mark.parametrize("adapter", STORAGE_ADAPTERS)
def test_storage_adapters_import_only_ports_models_and_errors(adapter: str) -> None:
    allowed = (adapter, *STORAGE_ADAPTERS_MAY_IMPORT)
    modules = {m: names for m, names in MODULES.items() if within(m, adapter)}
    assert modules, f"no module {adapter}"
    offenders = [
        f"{module} imports {name}"
        for module, names in modules.items()
        for name in names
        if within(name, "tollhouse") and not any(within(name, a) for a in allowed)
    ]
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize(("package", "forbidden"), RULES, ids=[r[0] for r in RULES])
def test_layer_imports(package: str, forbidden: tuple[str, ...]) -> None:
    offenders = [
        f"{module} imports {name}"
        for module, names in MODULES.items()
        if module == package or module.startswith(package + ".")
        for name in names
        if name.startswith(forbidden)
    ]
    assert not offenders, "\n".join(offenders)


def test_only_web_imports_starlette() -> None:
    offenders = [
        module
        for module, names in MODULES.items()
        if any(n.startswith("starlette") for n in names)
        and not module.startswith(("tollhouse.web", "tollhouse.resource"))
    ]
    assert not offenders


def test_nothing_imports_the_cli() -> None:
    offenders = [
        module
        for module, names in MODULES.items()
        if not module.startswith("tollhouse.cli")
        and module != "tollhouse.__main__"
        and any(n.startswith("tollhouse.cli") for n in names)
    ]
    assert not offenders


def test_resource_library_stands_alone() -> None:
    offenders = [
        f"{module} imports {name}"
        for module, names in MODULES.items()
        if module.startswith("tollhouse.resource")
        for name in names
        if name.startswith("tollhouse") and not name.startswith(RESOURCE_MAY_IMPORT)
    ]
    assert not offenders, "\n".join(offenders)


UVICORN_INTERNALS = ("uvicorn._", "uvicorn.protocols", "uvicorn.supervisors", "uvicorn.lifespan")


def test_no_module_imports_uvicorn_internals() -> None:
    """The HTTP server is a maintained one, used through its public API (ADR 0010): no
    subclass of its protocol or supervisor to diff by hand at each release."""
    offenders = [
        f"{module} imports {name}"
        for module, names in MODULES.items()
        for name in names
        if name.startswith(UVICORN_INTERNALS)
    ]
    assert not offenders, "\n".join(offenders)


def test_the_idp_validates_access_tokens_with_the_resource_core() -> None:
    """The allowed direction: protocol/ imports tollhouse.resource (one validation core,
    RFC 9068 §4, for resource servers and the IdP's own endpoints); never the reverse."""
    assert (
        "tollhouse.resource.validator.AccessTokenVerifier"
        in MODULES["tollhouse.protocol.token_lookup"]
    )
    assert "tollhouse.resource.at_jwt" in MODULES["tollhouse.diagnostics.token_explain"]


def test_only_the_server_start_imports_uvicorn() -> None:
    """The ASGI entry point, the worker process's start and the commands that start a
    server."""
    allowed = (
        "tollhouse.web.asgi",
        "tollhouse.web.worker_process",
        "tollhouse.web.write_coalescing",
        "tollhouse.cli",
    )
    offenders = [
        module
        for module, names in MODULES.items()
        if any(n == "uvicorn" or n.startswith("uvicorn.") for n in names)
        and not module.startswith(allowed)
    ]
    assert not offenders


def reaches_into_the_provider(path: Path) -> bool:
    """``….provider.storage`` or ``….provider.settings`` anywhere in the module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("storage", "settings"):
            owner = node.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if name == "provider":
                return True
    return False


def test_web_does_not_reach_into_the_providers_storage_or_settings() -> None:
    """Convention 11: web/ asks the provider, it does not use the provider's parts."""
    reaching = {
        module_name(path) for path in (SRC / "web").rglob("*.py") if reaches_into_the_provider(path)
    }
    assert not reaching, sorted(reaching)
