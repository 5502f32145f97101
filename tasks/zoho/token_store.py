"""The Zoho access token shared by every process through the state store (SPEC 13).

Zoho lets one refresh token mint at most 10 access tokens per 10 minutes, and a token lives an
hour. Minting one per process (a sync every minute, hourly reports, a backfill, a few CLI
commands) crosses that limit; sharing one token through the store keeps a whole installation at
about one mint an hour. :class:`ZohoAuth <tasks.zoho.auth.ZohoAuth>` asks this store first, and
mints only when the stored token has under 5 minutes left or Zoho refused it (``INVALID_TOKEN``),
holding the store's refresh claim so that one process at a time mints.

**Encrypted at rest (decided).** The token is kept AES-GCM-encrypted with a key derived (HKDF-
SHA256) from the refresh token and the client secret. Whoever can decrypt it already holds the
secrets that mint tokens at will, so the encryption takes nothing from a legitimate process; and
whoever only reads the database — a backup, a copied SQLite file, an analyst with SQL access to
the PostgreSQL store — gets nothing usable for an hour of API access. A changed refresh token or
secret simply finds no token it can read (the row's name is derived from them as well) and mints
a new one. The key never leaves memory; the token is never logged or printed.
"""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import datetime, timedelta
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from models.settings import ZohoSettings
from tasks.store.shared import StoredToken

CLAIM_TTL = timedelta(seconds=30)
"""How long a refresh claim holds: a process killed while minting blocks the others this long."""


class TokenBackend(Protocol):
    """What the token store needs of :class:`tasks.store.Store`."""

    def stored_token(self, name: str) -> StoredToken | None: ...
    def claim_token_refresh(self, name: str, owner: str, ttl: timedelta) -> bool: ...
    def save_token(self, name: str, owner: str, token: StoredToken) -> None: ...
    def release_token_refresh(self, name: str, owner: str) -> None: ...
    def invalidate_token(self, name: str, fingerprint: str) -> None: ...


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SharedTokens:
    """One installation's token in the store, encrypted; ``owner`` names this process."""

    def __init__(self, backend: TokenBackend, settings: ZohoSettings, *, owner: str) -> None:
        secret = (
            settings.refresh_token.get_secret_value()
            + "\x00"
            + settings.client_secret.get_secret_value()
        ).encode()
        ident = f"{settings.accounts_url}\x00{settings.client_id.get_secret_value()}\x00"
        self.name = "zoho:" + hashlib.sha256(ident.encode() + secret).hexdigest()[:32]
        self._key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"callsync token store v1"
        ).derive(secret)
        self._backend = backend
        self.owner = owner

    def __repr__(self) -> str:
        return f"SharedTokens(name={self.name!r}, owner={self.owner!r})"

    def load(self) -> tuple[str, str, datetime] | None:
        """(token, api_domain, use-until) of the stored token, None when none is readable."""
        stored = self._backend.stored_token(self.name)
        if stored is None:
            return None
        try:
            raw = base64.b64decode(stored.token_enc)
            value = AESGCM(self._key).decrypt(raw[:12], raw[12:], self.name.encode()).decode()
        except (InvalidTag, ValueError):
            return None
        return value, stored.api_domain, stored.expires_at

    def claim(self) -> bool:
        return self._backend.claim_token_refresh(self.name, self.owner, CLAIM_TTL)

    def release(self) -> None:
        self._backend.release_token_refresh(self.name, self.owner)

    def save(self, value: str, api_domain: str, expires_at: datetime) -> None:
        nonce = os.urandom(12)
        sealed = AESGCM(self._key).encrypt(nonce, value.encode(), self.name.encode())
        self._backend.save_token(
            self.name,
            self.owner,
            StoredToken(
                base64.b64encode(nonce + sealed).decode(),
                fingerprint(value),
                api_domain,
                expires_at,
            ),
        )

    def invalidate(self, value: str) -> None:
        self._backend.invalidate_token(self.name, fingerprint(value))
