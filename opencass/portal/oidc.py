"""Sign-in at the operator's OpenID Connect provider: the authorization code flow with PKCE,
``state`` and ``nonce`` (authlib makes the verifier and its challenge), the code exchanged at
the token endpoint with the client's secret, the ID token's signature checked against the
provider's published keys and its claims (issuer, audience, expiry, nonce) by joserfc.  The
claim ``user_claim`` then names the opencass user, who must exist and be active: the provider
says who someone is, opencass what they may do."""

from __future__ import annotations

import base64
import os
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from opencass.config.model import OidcSettings
from opencass.errors import PeerError
from opencass.identity.directory import Directory, Member

__all__ = ["OidcError", "OidcSignIn", "member_for"]

METADATA_SECONDS = 3600.0  # the provider's discovery document and keys are read again after
TIMEOUT = aiohttp.ClientTimeout(total=15)


class OidcError(PeerError):
    """The provider's answer cannot sign anyone in (said to the user in general terms)."""

    code = "OIDC_REFUSED"


@dataclass(slots=True)
class OidcSignIn:
    """One provider's client: its discovery document and keys, read when needed."""

    settings: OidcSettings
    _meta: dict[str, Any] = field(default_factory=dict)
    _keys: KeySet | None = None
    _read_at: float = 0.0

    async def _get(self, session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
        async with session.get(url) as r:
            if r.status != 200:
                raise OidcError(f"{url}: HTTP {r.status}")
            data: dict[str, Any] = await r.json(content_type=None)
            return data

    async def metadata(
        self, session: aiohttp.ClientSession, *, fresh: bool = False
    ) -> dict[str, Any]:
        """The provider's discovery document (and its keys), cached for an hour."""
        if fresh or not self._meta or time.monotonic() - self._read_at > METADATA_SECONDS:
            meta = await self._get(
                session, f"{self.settings.issuer}/.well-known/openid-configuration"
            )
            if meta.get("issuer", "").rstrip("/") != self.settings.issuer:
                raise OidcError(f"the provider says it is {meta.get('issuer')!r}")
            self._keys = KeySet.import_key_set(await self._get(session, meta["jwks_uri"]))  # type: ignore[arg-type]
            self._meta, self._read_at = meta, time.monotonic()
        return self._meta

    async def begin(self, redirect_uri: str) -> tuple[str, dict[str, str | float]]:
        """The provider's authorization URL to send the browser to, and what the callback
        must find again (kept in a signed cookie): state, nonce, PKCE verifier."""
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
            meta = await self.metadata(session)
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        query = {
            "response_type": "code",
            "client_id": self.settings.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(self.settings.scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
        url = f"{meta['authorization_endpoint']}?{urlencode(query)}"
        return url, {"state": state, "nonce": nonce, "verifier": verifier}

    async def finish(
        self, code: str, redirect_uri: str, kept: dict[str, str | float], now: float
    ) -> dict[str, Any]:
        """The ID token's claims for ``code`` (exchanged with the verifier kept at ``begin``),
        checked; ``OidcError`` otherwise."""
        secret = os.environ.get(self.settings.client_secret_env, "") if (
            self.settings.client_secret_env
        ) else ""  # fmt: skip
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": str(kept["verifier"]),
        }
        headers = {}
        if secret:  # client_secret_basic: both parts form-encoded first (RFC 6749 2.3.1)
            pair = f"{quote(self.settings.client_id, safe='')}:{quote(secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form["client_id"] = self.settings.client_id
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
            meta = await self.metadata(session)
            async with session.post(meta["token_endpoint"], data=form, headers=headers) as r:
                tokens = await r.json(content_type=None)
                if r.status != 200 or "id_token" not in tokens:
                    raise OidcError(f"the token endpoint refused: {tokens.get('error', r.status)}")
            claims = await self._claims(session, str(tokens["id_token"]), kept, now)
            if self.settings.user_claim not in claims and meta.get("userinfo_endpoint"):
                claims = await self._userinfo(session, meta, tokens, claims)
        return claims

    async def _userinfo(
        self,
        session: aiohttp.ClientSession,
        meta: dict[str, Any],
        tokens: dict[str, Any],
        claims: dict[str, Any],
    ) -> dict[str, Any]:
        """The ID token's claims with the UserInfo endpoint's (providers that keep profile
        claims out of the ID token in the code flow), for the same subject only."""
        headers = {"Authorization": f"Bearer {tokens.get('access_token', '')}"}
        async with session.get(meta["userinfo_endpoint"], headers=headers) as r:
            if r.status != 200:
                raise OidcError(f"the UserInfo endpoint refused: HTTP {r.status}")
            info = await r.json(content_type=None)
        if not isinstance(info, dict) or info.get("sub") != claims.get("sub"):
            raise OidcError("the UserInfo endpoint speaks of another subject")
        return {**info, **claims}

    async def _claims(
        self, session: aiohttp.ClientSession, token: str, kept: dict[str, str | float], now: float
    ) -> dict[str, Any]:
        assert self._keys is not None
        try:
            decoded = jwt.decode(token, self._keys, algorithms=["RS256", "ES256", "PS256"])
        except JoseError:  # a key rotated since the keys were read: read them once more
            await self.metadata(session, fresh=True)
            try:
                decoded = jwt.decode(token, self._keys, algorithms=["RS256", "ES256", "PS256"])
            except JoseError as e:
                raise OidcError(f"the ID token's signature does not verify: {e}") from e
        registry = jwt.JWTClaimsRegistry(
            now=int(now),
            leeway=60,
            iss={"essential": True, "value": self.settings.issuer},
            aud={"essential": True, "value": self.settings.client_id},
            exp={"essential": True},
            nonce={"essential": True, "value": str(kept["nonce"])},
        )
        try:
            registry.validate(decoded.claims)
        except JoseError as e:
            raise OidcError(f"the ID token's claims do not hold: {e}") from e
        return dict(decoded.claims)


def member_for(claims: dict[str, Any], claim: str, directory: Directory) -> Member | None:
    """The active user the provider's ``claim`` names: by login name, or by e-mail address
    when the claim is ``email`` (then only a verified one, when the provider says)."""
    value = claims.get(claim)
    if not isinstance(value, str) or not value:
        return None
    if claim != "email":
        return directory.active(value)
    if claims.get("email_verified") is False:
        return None
    found = [m for m in directory.members.values() if m.email.lower() == value.lower()]
    return directory.active(found[0].name) if len(found) == 1 else None
