"""The SQL adapter: every storage port on SQLAlchemy Core, for SQLite and PostgreSQL.

``open_storage`` is the entry point; what differs between the two databases sits
behind :class:`~tollhouse.storage.sql.backend.Backend`, chosen once per storage.
"""

from tollhouse.storage.sql.engine import async_url
from tollhouse.storage.sql.migrate import migrate
from tollhouse.storage.sql.storage import SqlStorage, open_storage

__all__ = ["SqlStorage", "async_url", "migrate", "open_storage"]
