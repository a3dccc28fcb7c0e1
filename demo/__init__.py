"""The Grid-Monitor demo: ``make demo`` runs the whole chain on 127.0.0.1.

- the identity provider (``tollhouse serve --seed-demo --insecure-http``),
- ``demo.grid_monitor``: the "Grid-Monitor" confidential web client (OpenID Connect
  relying party, server-side sessions),
- ``demo.sensors``: the "sensors" API that requires ``read_sensors``
  (``tollhouse.resource``).

Not part of the installed product; see docs/demo.md.
"""
