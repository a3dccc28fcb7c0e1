"""The ``MetaData`` every table of the SQL storage belongs to (schema.py,
schema_sign_in.py), and the column type of identifiers."""

from __future__ import annotations

from sqlalchemy import MetaData, String

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic constraint names, so later migrations can drop them by name."""

metadata = MetaData(naming_convention=NAMING_CONVENTION)

ID = String(255)
"""Identifiers, hashes and names that are looked up by equality."""
