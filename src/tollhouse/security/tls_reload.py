"""Replacing the TLS certificate on SIGHUP, without a restart (RFC 8446 servers only
ever present the chain of the context a handshake starts with).

``SSLContext.load_cert_chain`` on the live context replaces its chain: every handshake
that starts afterwards presents the new certificate, connections already open keep
theirs. The new files are first loaded into a throwaway context, so a bad or
half-written certificate is refused with an error line and the running one stays.

With ``--workers N`` the supervisor handles SIGHUP itself by replacing the workers
one at a time (each new worker reads the files again); the effect is the same:
new connections get the new certificate, and the listening socket never closes.
"""

from __future__ import annotations

import logging
import os
import ssl
from pathlib import Path

from cryptography import x509

from tollhouse.errors import ConfigError
from tollhouse.hangup import on_sighup
from tollhouse.security.tls import ask_client_certificates, server_context

log = logging.getLogger("tollhouse.tls")


def _describe(cert: Path) -> dict[str, str]:
    """Serial and expiry of the first certificate in ``cert``, for the log line."""
    try:
        parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    except (OSError, ValueError):
        return {}
    return {
        "serial": format(parsed.serial_number, "x"),
        "not_after": parsed.not_valid_after_utc.isoformat(),
    }


class CertificateReloader:
    def __init__(self, context: ssl.SSLContext, cert: Path, key: Path) -> None:
        self.context = context
        self.cert = cert
        self.key = key

    def reload(self) -> bool:
        """Load the files again; False (and the old chain kept) if they are unusable."""
        try:
            server_context(self.cert, self.key)  # throws on a bad pair, touching nothing
            self.context.load_cert_chain(certfile=self.cert, keyfile=self.key)
        except (ConfigError, ssl.SSLError, OSError) as exc:
            log.error(
                "TLS certificate not reloaded; still serving the previous one",
                extra={"event": "tls_reload_failed", "reason": str(exc)},
            )
            return False
        log.info(
            "TLS certificate reloaded",
            extra={"event": "tls_reload", "cert": str(self.cert), **_describe(self.cert)},
        )
        return True

    def install(self) -> bool:
        """Reload on SIGHUP (hangup.py: the access log is reopened on the same signal).
        Only the main thread may set signal handlers; elsewhere (an embedding
        application) nothing is installed and False is returned."""
        return on_sighup("tls-certificate", self.reload)


def reloadable_server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """:func:`~tollhouse.security.tls.server_context` (TLS 1.3 only) that reloads its
    certificate and key from the same paths on SIGHUP."""
    context = server_context(cert, key)
    client_ca = os.environ.get("TOLLHOUSE_TLS_CLIENT_CA")
    if client_ca:
        ask_client_certificates(context, Path(client_ca))
    CertificateReloader(context, cert, key).install()
    return context
