"""A browser-less client of the participant portal for the tests: a cookie jar, the CSRF
token of the last page, sign-in with password and TOTP code (on the gateway's clock)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiohttp
import pyotp

from opencass.config.demo import demo_password

__all__ = ["PortalClient", "totp_code"]

_CSRF = re.compile(r'name="(?:csrf|signin_token)" value="([^"]+)"')


def totp_code(secret: str, at: datetime) -> str:
    """The TOTP code of ``secret`` at ``at`` (the gateway's clock, not the machine's)."""
    return pyotp.TOTP(secret).at(at)


class PortalClient:
    """One browser: its cookies, the token of the last form it was shown."""

    def __init__(self, base: str, clock: Callable[[], datetime]) -> None:
        self.base = base.rstrip("/")
        self.clock = clock
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.token = ""

    async def close(self) -> None:
        await self.session.close()

    async def get(self, path: str, **kw: Any) -> tuple[int, str]:
        async with self.session.get(self.base + path, allow_redirects=True, **kw) as r:
            text = await r.text()
        if m := _CSRF.search(text):
            self.token = m.group(1)
        return r.status, text

    async def post(
        self, path: str, data: dict[str, str], *, token: bool = True, **kw: Any
    ) -> tuple[int, str]:
        form = {"csrf": self.token, **data} if token else data
        async with self.session.post(self.base + path, data=form, allow_redirects=True, **kw) as r:
            text = await r.text()
        if m := _CSRF.search(text):
            self.token = m.group(1)
        return r.status, text

    async def post_form(self, path: str, form: aiohttp.FormData) -> tuple[int, str]:
        """POST a multipart form (a file upload)."""
        async with self.session.post(self.base + path, data=form, allow_redirects=True) as r:
            text = await r.text()
        if m := _CSRF.search(text):
            self.token = m.group(1)
        return r.status, text

    def cookie(self, name: str) -> str:
        for c in self.session.cookie_jar:
            if c.key == name:
                return c.value
        return ""

    async def password(self, user: str, password: str | None = None) -> tuple[int, str]:
        """The sign-in form, then its POST: the code page on success."""
        await self.get("/signin")
        form = {"signin_token": self.token, "user": user,
                "password": password if password is not None else demo_password(user)}  # fmt: skip
        return await self.post("/signin", form, token=False)

    async def sign_in(self, user: str, secret: str) -> str:
        """Signed in as ``user``: the dashboard's HTML."""
        status, _ = await self.password(user)
        assert status == 200, status
        status, page = await self.post("/signin/code", {"code": totp_code(secret, self.clock())})
        assert status == 200, page
        return page
