"""Where OAuth tokens for remote MCP servers are kept: one record per server, per issuer.

A record holds, for each authorization server (issuer) the server sent nexthop to, the
client registration and the tokens it issued, plus when the access token expires (as an
absolute time, so a token saved yesterday is known to be stale today). It lives in the
user's config folder (``<config>/nexthop/oauth/<server>-<hash of URL>.json``, mode 0600,
in a 0700 folder), or in the OS keyring when the ``keyring`` package is importable and
has a working backend. It implements the SDK's `TokenStorage` protocol.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from pathlib import Path
from typing import Protocol

import anyio.to_thread
import platformdirs
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["IssuerRecord", "TokenRecord", "TokenStore", "default_token_dir", "token_store"]

_KEYRING_SERVICE = "nexthop-oauth"


def default_token_dir() -> Path:
    """The folder of token files: ``oauth`` under the user's nexthop config folder (platformdirs)."""
    return Path(platformdirs.user_config_dir("nexthop")) / "oauth"


class IssuerRecord(BaseModel):
    """What one authorization server issued to nexthop for one MCP server.

    Attributes:
        client_info: The client registration (dynamic, CIMD or pre-registered); None before one.
        tokens: The latest tokens; None before sign-in.
        expires_at: When the access token expires (Unix time, seconds); None if never said.
    """

    client_info: OAuthClientInformationFull | None = None
    tokens: OAuthToken | None = None
    expires_at: float | None = None


class TokenRecord(BaseModel):
    """Everything stored for one MCP server.

    Attributes:
        server: The server's name in the config.
        url: Its endpoint; a changed URL is a different record.
        issuer: The issuer used last ("" before one is known); its entry is the live one.
        issuers: One entry per issuer, so switching back to an earlier one keeps its tokens.
    """

    model_config = ConfigDict(extra="ignore")

    server: str
    url: str
    issuer: str = ""
    issuers: dict[str, IssuerRecord] = Field(default_factory=dict[str, IssuerRecord])

    @property
    def current(self) -> IssuerRecord:
        """The live issuer's entry (an empty one if there is none yet)."""
        return self.issuers.get(self.issuer) or IssuerRecord()


class _Backend(Protocol):
    def read(self) -> str | None: ...
    def write(self, text: str) -> None: ...
    def delete(self) -> bool: ...

    @property
    def where(self) -> str: ...


class _FileBackend:
    """A JSON file written atomically with mode 0600 (tokens are secrets)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def where(self) -> str:
        return str(self.path)

    def read(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def write(self, text: str) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        # Created 0600 from the start: a chmod after writing would leave a moment of exposure.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, self.path)

    def delete(self) -> bool:
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True


class _KeyringBackend:
    """The OS keyring (Secret Service, macOS Keychain, Windows Credential Locker)."""

    def __init__(self, key: str) -> None:
        self.key = key

    @property
    def where(self) -> str:
        return f"the OS keyring ({_KEYRING_SERVICE}/{self.key})"

    def read(self) -> str | None:
        import keyring  # pyright: ignore[reportMissingImports]  # noqa: PLC0415 - optional

        return keyring.get_password(_KEYRING_SERVICE, self.key)  # pyright: ignore

    def write(self, text: str) -> None:
        import keyring  # pyright: ignore[reportMissingImports]  # noqa: PLC0415

        keyring.set_password(_KEYRING_SERVICE, self.key, text)  # pyright: ignore

    def delete(self) -> bool:
        import keyring  # pyright: ignore[reportMissingImports]  # noqa: PLC0415

        try:
            keyring.delete_password(_KEYRING_SERVICE, self.key)  # pyright: ignore
        except Exception:  # keyring.errors.PasswordDeleteError: nothing stored
            return False
        return True


def _keyring_usable() -> bool:
    try:
        import keyring  # pyright: ignore[reportMissingImports]  # noqa: PLC0415
        from keyring.backends import fail  # pyright: ignore  # noqa: PLC0415
    except ImportError:
        return False
    # A headless Linux box often has keyring installed but no backend; it then refuses every call.
    return not isinstance(keyring.get_keyring(), fail.Keyring)  # pyright: ignore


class TokenStore:
    """One MCP server's OAuth record, as the SDK's `TokenStorage` (async get/set of tokens and client).

    Args:
        server: The server's name.
        url: Its endpoint.
        backend: Where the record is kept (`token_store` picks one).

    ``had_tokens`` tells whether tokens were on record when first read, so a failed
    sign-in can say "expired" rather than "never signed in".
    """

    def __init__(self, server: str, url: str, backend: _Backend) -> None:
        self.server, self.url, self._backend = server, url, backend
        self._record: TokenRecord | None = None
        self.had_tokens = False

    @property
    def where(self) -> str:
        """Where the record is kept, for messages."""
        return self._backend.where

    async def load(self) -> TokenRecord:
        """The stored record (an empty one if none, or if the stored one is unreadable)."""
        if self._record is None:
            text = await anyio.to_thread.run_sync(self._backend.read)
            record: TokenRecord | None = None
            if text:
                with contextlib.suppress(ValidationError):
                    record = TokenRecord.model_validate_json(text)
            if record is None or record.url != self.url:
                record = TokenRecord(server=self.server, url=self.url)
            self._record = record
            self.had_tokens = record.current.tokens is not None
        return self._record

    async def _save(self, record: TokenRecord) -> None:
        self._record = record
        await anyio.to_thread.run_sync(self._backend.write, record.model_dump_json(indent=2, exclude_none=True))

    async def expires_at(self) -> float | None:
        """When the live access token expires (Unix time, seconds), if stored with a lifetime."""
        return (await self.load()).current.expires_at

    async def get_tokens(self) -> OAuthToken | None:
        """The live issuer's tokens, if any."""
        return (await self.load()).current.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        """Store new tokens under the live issuer, with their absolute expiry."""
        record = await self.load()
        expires_at = time.time() + float(tokens.expires_in) if tokens.expires_in is not None else None
        entry = record.current.model_copy(update={"tokens": tokens, "expires_at": expires_at})
        await self._save(record.model_copy(update={"issuers": {**record.issuers, record.issuer: entry}}))

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        """The live issuer's client registration, if any."""
        return (await self.load()).current.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        """Store a registration; the issuer it is bound to becomes the live one (SEP-2352)."""
        record = await self.load()
        issuer = client_info.issuer or record.issuer
        entry = record.issuers.get(issuer, IssuerRecord()).model_copy(update={"client_info": client_info})
        update = {"issuer": issuer, "issuers": {**record.issuers, issuer: entry}}
        await self._save(record.model_copy(update=update))

    async def clear(self) -> bool:
        """Forget everything for this server; whether there was anything."""
        self._record = TokenRecord(server=self.server, url=self.url)
        return await anyio.to_thread.run_sync(self._backend.delete)


def token_store(server: str, url: str, directory: Path | None = None, *, keyring: bool | None = None) -> TokenStore:
    """The token store for one server.

    Args:
        server: The server's name.
        url: Its endpoint (part of the key: the same name at another URL is another record).
        directory: Folder for token files; default `default_token_dir`.
        keyring: Use the OS keyring; None uses it when ``keyring`` is importable and has a
            working backend (and no ``directory`` was given).

    Returns:
        The store (nothing is read until it is used).
    """
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    key = f"{server}-{digest}"
    if keyring is None:
        keyring = directory is None and _keyring_usable()
    if keyring:
        return TokenStore(server, url, _KeyringBackend(key))
    return TokenStore(server, url, _FileBackend((directory or default_token_dir()) / f"{key}.json"))
