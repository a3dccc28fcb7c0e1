"""Wiring of the signing keys and of what issues, checks and revokes tokens."""

from __future__ import annotations

from dataclasses import dataclass

from tollhouse.clock import Clock
from tollhouse.config import Settings
from tollhouse.keys import KeyRing, spare_cores
from tollhouse.keys.rotation import retention_for
from tollhouse.protocol.id_token import IdTokenHintVerifier, IdTokenIssuer
from tollhouse.protocol.refresh_tokens import RefreshTokenIssuer
from tollhouse.protocol.revocation import Revoker
from tollhouse.protocol.subjects import Subjects
from tollhouse.protocol.token_lookup import TokenLookup
from tollhouse.protocol.tokens import AccessTokenIssuer
from tollhouse.provider.core import Core
from tollhouse.security.secretbox import SecretBox
from tollhouse.storage.group_commit import GroupCommitRecords
from tollhouse.storage.ports import Storage


async def open_keyring(
    settings: Settings, storage: Storage, box: SecretBox, clock: Clock
) -> KeyRing:
    """The key ring, loaded; on first start it creates the signing keys."""
    keyring = KeyRing(
        store=storage,
        box=box,
        clock=clock,
        alg=settings.signing_alg,
        reload_interval=settings.key_reload_interval,
        retention=retention_for(settings),
        signing_threads=spare_cores(settings.workers),
        rsa_bits=settings.rsa_key_bits,
    )
    await keyring.load()
    await keyring.ensure_key(settings.signing_alg)
    # OIDC Core §15.1: RS256 must be available for ID Tokens.
    await keyring.ensure_key("RS256")
    return keyring


@dataclass(frozen=True, slots=True)
class TokenServices:
    """Everything that mints, verifies or revokes a token, shared by the endpoints."""

    access_tokens: AccessTokenIssuer
    refresh_tokens: RefreshTokenIssuer
    id_tokens: IdTokenIssuer
    hints: IdTokenHintVerifier
    revoker: Revoker
    lookup: TokenLookup
    subjects: Subjects


def token_services(core: Core) -> TokenServices:
    settings, storage, keyring, clock, events = (
        core.settings,
        core.storage,
        core.keyring,
        core.clock,
        core.events,
    )
    issuer = core.issuer
    subjects = Subjects(pairwise_key=core.box.derive("pairwise-subjects"))
    return TokenServices(
        access_tokens=AccessTokenIssuer(
            signer=keyring,
            # Concurrent grants share one commit of their records (group_commit.py).
            records=GroupCommitRecords(storage),
            clock=clock,
            issuer=issuer,
            ttl=settings.access_token_ttl,
            events=events,
        ),
        refresh_tokens=RefreshTokenIssuer(
            clock=clock,
            idle_ttl=settings.refresh_token_ttl,
            absolute_ttl=settings.refresh_token_absolute_ttl,
            events=events,
        ),
        id_tokens=IdTokenIssuer(
            signer=keyring,
            subjects=subjects,
            clock=clock,
            issuer=issuer,
            ttl=settings.id_token_ttl,
            events=events,
        ),
        hints=IdTokenHintVerifier(verifier=keyring, subjects=subjects, issuer=issuer),
        revoker=Revoker(
            revocations=storage,
            refresh_tokens=storage,
            access_tokens=storage,
            clock=clock,
            mirrors=core.mirrors,
            events=events,
        ),
        lookup=TokenLookup(keys=keyring, refresh_tokens=storage, clock=clock, issuer=issuer),
        subjects=subjects,
    )
