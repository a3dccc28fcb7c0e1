"""Persistence: narrow ports (``ports``) and their adapters (``sql``, ``memory``, ``redis``)."""
