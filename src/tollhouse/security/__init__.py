"""Security primitives: encryption at rest, password hashing, master key and TLS.

- :mod:`~tollhouse.security.secretbox` — AES-256-GCM under the master key (RFC 5116).
- :mod:`~tollhouse.security.master_key` — where the master key comes from.
- :mod:`~tollhouse.security.passwords` — argon2id hashing (RFC 9106).
- :mod:`~tollhouse.security.tls` — TLS 1.3 server context and a self-signed localhost pair.
"""
