"""The portal's web server: sign-in (password, then a TOTP code), sessions, CSRF, security
headers, and the pages, served by the daemon in its own event loop (aiohttp).

Guards, in the order a request meets them:

- every response carries the security headers (a CSP allowing scripts, styles and images
  from the portal itself only, no framing, no sniffing; HSTS when the portal is on HTTPS);
- a client address banned by the SFTP endpoint's ban list is refused here too, and failed
  sign-ins here count on that same list (one policy, ``[gateway.ban]``);
- a page needs a signed-in session, else the browser is sent to the sign-in page;
- every POST carries its session's CSRF token (the sign-in form: a token in a cookie of its
  own, set with the form), and a cross-origin ``Origin`` is refused;
- a company or country is shown only to a user who may act for that company (its own, or
  one its administrators were granted), and only the countries the company takes part in.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import secrets
import ssl
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
import jinja2
import pyotp
import structlog
from aiohttp import web

from opencass.billing.remittance import HandPayment, PaymentRefusedError, record_payment, reinstate
from opencass.clock import system_clock
from opencass.codecs.onerecord.dispute import DisputeRequest, DisputeStatusUpdate, encode_dispute
from opencass.codecs.onerecord.users import (
    CHANGE_KINDS,
    UserAdministration,
    UserChangeRequest,
    encode_user_administration,
)
from opencass.codecs.onerecord.withdrawal import WithdrawalRequest, encode_withdrawal
from opencass.config.model import BanPolicy, CompanyKind, Config, Role
from opencass.config.passwords import dummy_hash, verify_password
from opencass.config.selfservice import push_key_path, rules_in_force
from opencass.config.subscriptions import FORMATS
from opencass.documents.choices import LANGUAGES
from opencass.documents.i18n import negotiate, translator
from opencass.documents.reports.data import Tonnage
from opencass.errors import InputError
from opencass.events import EventType
from opencass.identity.directory import Directory, Member
from opencass.model import payable
from opencass.portal import pages, selfservice
from opencass.portal.oidc import OidcError, OidcSignIn, member_for
from opencass.portal.sessions import AWAITING_CODE, SIGNED_IN, Session, SessionCodec, load_key

__all__ = ["Portal", "PortalDeps", "start_portal"]

log = structlog.get_logger("opencass.portal")

SESSION: web.RequestKey[Session | None] = web.RequestKey("session", Session)
COOKIE = "oc_session"
SIGNIN_COOKIE = "oc_signin"  # the sign-in form's CSRF token
OIDC_COOKIE = "oc_oidc"  # state, nonce and PKCE verifier between the redirect and the callback
OIDC_SECONDS = 600.0  # the time a user has at the provider
KEY_FILE = "portal_session.key"
MAX_UPLOAD = 64 << 20  # a file uploaded through the page (larger ones: SFTP)
STATS_KEPT = 32  # airlines' statistics kept computed
HERE = Path(__file__).parent
LANGUAGE_NAMES = {
    "en": "English", "fr": "Français", "es": "Español", "de": "Deutsch", "zh": "中文",
    "ja": "日本語",
}  # fmt: skip
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class Bans(Protocol):
    """The SFTP endpoint's ban list (``opencass.gateway.mailbox.BanList``), shared."""

    def banned(self, *, ip: str | None = None) -> bool: ...
    def delay(self, policy: BanPolicy, *, ip: str, user: str) -> float: ...
    def failure(self, policy: BanPolicy, *, ip: str, user: str | None) -> list[str]: ...


@dataclass(slots=True)
class PortalDeps:
    """What the portal takes from the gateway."""

    config: Callable[[], Config]
    directory: Callable[[], Directory]
    bans: Bans
    clock: Callable[[], datetime]
    audit: Callable[..., Awaitable[Any]]
    downloaded: Callable[[str, str, str, int | None], Awaitable[bool]] | None = None
    submit: Callable[[str, str, str, bytes], Awaitable[None]] | None = None  # into an inbox
    used_codes: dict[str, int] = field(default_factory=dict)  # user -> last TOTP time step


_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.filters["decimal"] = lambda v: Decimal(str(v))


def _settings(deps: PortalDeps) -> Any:
    return deps.config().gateway.portal


def client_address(request: web.Request, trusted: tuple[str, ...]) -> str:
    """The client's address: the peer, or -- when the peer is a trusted proxy -- the last
    address its ``X-Forwarded-For`` names that is not itself a trusted proxy."""
    peer = request.remote or ""
    nets = [ipaddress.ip_network(t) for t in trusted]

    def is_trusted(addr: str) -> bool:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        return any(ip in n for n in nets)

    if not nets or not is_trusted(peer):
        return peer
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop):
            return hop
    return peer


def _https(request: web.Request, deps: PortalDeps) -> bool:
    settings = _settings(deps)
    if settings.tls:
        return True
    if client_address(request, ()) != client_address(request, settings.trusted_proxies):
        return request.headers.get("X-Forwarded-Proto", "") == "https"
    return False


# -- rendering --------------------------------------------------------------------------------


def _lang(request: web.Request, session: Session | None, deps: PortalDeps) -> str:
    if session is not None and session.lang:
        return session.lang
    if session is not None and session.company:
        company = deps.config().companies.get(session.company)
        if company is not None:
            return negotiate(company.language)
    header = request.headers.get("Accept-Language", "")
    return negotiate(header.split(",")[0].split(";")[0]) if header else "en"


def render(
    request: web.Request, deps: PortalDeps, name: str, status: int = 200, **values: Any
) -> web.Response:
    """The page ``name`` in the session's language."""
    session: Session | None = request.get(SESSION)
    lang = _lang(request, session, deps)
    t = translator(lang, "portal")
    html = _templates.get_template(name).render(
        _=t.gettext, t=t, lang=lang, languages=LANGUAGE_NAMES, session=session,
        csrf=session.csrf if session else "", **values,
    )  # fmt: skip
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


# -- middlewares ------------------------------------------------------------------------------


def _headers_middleware(deps: PortalDeps) -> Any:
    @web.middleware
    async def headers(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
        except web.HTTPException as e:
            _secure(e.headers, request, deps)
            raise
        _secure(response.headers, request, deps)
        return response

    return headers


def _secure(headers: Any, request: web.Request, deps: PortalDeps) -> None:
    headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "same-origin"
    if "Cache-Control" not in headers and not request.path.startswith("/static/"):
        headers["Cache-Control"] = "no-store"
    if _https(request, deps):
        headers["Strict-Transport-Security"] = "max-age=31536000"


OPEN_PATHS = ("/signin", "/static/")


def _session_middleware(deps: PortalDeps, codec: SessionCodec) -> Any:
    @web.middleware
    async def sessions(request: web.Request, handler: Any) -> web.StreamResponse:
        now = deps.clock().timestamp()
        session = codec.load(request.cookies.get(COOKIE), now)
        if session is not None and session.stage == SIGNED_IN:
            member = deps.directory().active(session.user)
            if member is None or session.company not in member.companies():
                session = None  # removed, suspended, or its access withdrawn meanwhile
        request[SESSION] = session
        open_path = request.path.startswith(OPEN_PATHS)
        if not open_path and (session is None or session.stage != SIGNED_IN):
            if request.method == "GET":
                return see_other("/signin")
            raise web.HTTPForbidden(text="sign in first")
        if request.method == "POST" and not request.path.startswith("/signin"):
            await _check_csrf(request, session)
        response: web.StreamResponse = await handler(request)
        kept: Session | None = request.get(SESSION)
        quiet = request.path == "/changes"  # a dashboard's polling keeps no session alive
        if kept and kept.stage == SIGNED_IN and COOKIE not in response.cookies and not quiet:
            _set_cookie(response, COOKIE, codec.dump(kept.touched(now)), request, deps)
        return response

    return sessions


async def _check_csrf(request: web.Request, session: Session | None) -> None:
    origin = request.headers.get("Origin")
    if origin and origin != "null" and origin.split("://", 1)[-1] != request.host:
        raise web.HTTPForbidden(text="cross-origin form refused")
    form = await request.post()
    token = str(form.get("csrf", ""))
    if session is None or not hmac.compare_digest(token, session.csrf):
        raise web.HTTPForbidden(text="the form's security token is missing or stale: reload")


def _set_cookie(
    response: web.StreamResponse,
    name: str,
    value: str,
    request: web.Request,
    deps: PortalDeps,
    *,
    lax: bool = False,
) -> None:
    """An HttpOnly cookie, Secure on HTTPS; SameSite=Strict but for the OpenID Connect state,
    which must come back with the provider's redirect (Lax: sent on that top-level GET)."""
    response.set_cookie(
        name, value, httponly=True, samesite="Lax" if lax else "Strict",
        secure=_https(request, deps), path="/",
    )  # fmt: skip


def _oidc_on(deps: PortalDeps) -> bool:
    return bool(deps.config().gateway.portal.oidc.enabled)


# -- submitting: files and messages go into the company's inbox, as over SFTP ------------------


class _Submissions:
    """The handlers that hand something to the intake, and the airline's statistics (mixed
    into ``_Handlers``)."""

    deps: PortalDeps
    _stats: dict[tuple[object, ...], list[Tonnage]]

    def _session(self, request: web.Request) -> Session:
        raise NotImplementedError

    def _submitter(self, request: web.Request) -> tuple[Session, Member]:
        session = self._session(request)
        member = self.deps.directory().active(session.user)
        if member is None or not _may_submit(member, session) or self.deps.submit is None:
            raise web.HTTPForbidden(text="you may not submit files for this company")
        return session, member

    async def _submit(self, session: Session, name: str, data: bytes) -> web.Response:
        assert self.deps.submit is not None
        try:
            await self.deps.submit(session.company, session.user, name, data)
        except InputError as e:  # the name is taken, or no plain file name
            raise web.HTTPConflict(text=str(e)) from None
        await self.deps.audit("portal_submitted", user=session.user, company=session.company,
                              name=name, size=len(data))  # fmt: skip
        return see_other(f"/?sent={quote(name)}")

    async def upload_form(self, request: web.Request) -> web.Response:
        session, member = self._submitter(request)
        config = self.deps.config()
        return render(request, self.deps, "upload.html", max_mb=MAX_UPLOAD >> 20,
                      **_header(config, member, session))  # fmt: skip

    async def upload(self, request: web.Request) -> web.Response:
        session, _ = self._submitter(request)
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            raise web.HTTPBadRequest(text="no file")
        data = await asyncio.to_thread(upload.file.read, MAX_UPLOAD + 1)  # (a spooled file)
        if len(data) > MAX_UPLOAD:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_UPLOAD, actual_size=len(data))
        name = Path(upload.filename or "").name
        return await self._submit(session, name, data)

    async def awb(self, request: web.Request) -> web.Response:
        session = self._session(request)
        config = self.deps.config()
        member = self.deps.directory().active(session.user)
        assert member is not None
        query = request.query.get("q", "")[:40]
        found = await asyncio.to_thread(
            pages.awb_search, config, session.company, session.country, query
        )
        return render(request, self.deps, "awb.html", query=query, found=found,
                      may_submit=_may_submit(member, session),
                      currency=config.countries[session.country].currency,
                      **_header(config, member, session))  # fmt: skip

    async def open_dispute(self, request: web.Request) -> web.Response:
        """An agent's dispute of an AWB line: the same ONE Record request its in-house system
        would upload (``opencass.codecs.onerecord.dispute``), so the same rules judge it."""
        session, _ = self._submitter(request)
        config = self.deps.config()
        f = await request.post()
        try:
            claimed = (
                Decimal(str(f.get("claimed", "")).replace(",", ".")) if f.get("claimed") else None
            )
            billed = Decimal(str(f.get("billed", "")))
            kind = str(f.get("kind", "change"))
            uid = uuid.uuid4()
            request_ = DisputeRequest(
                iri=f"urn:uuid:{uid}", kind=kind, agent_code=str(f.get("agent", "")),
                requested_at=self.deps.clock().isoformat(), country=session.country,
                period=str(f.get("period", "")), airline_prefix=str(f.get("prefix", "")),
                awb_serial=str(f.get("serial", "")), reason=str(f.get("reason", "")).strip(),
                currency=config.countries[session.country].currency,
                disputed_amount=billed - claimed if claimed is not None else billed,
                claimed_amount=claimed if kind == "change" else None,
            )  # fmt: skip
            data = encode_dispute(request_, base_iri=config.gateway.public_url)
        except (ArithmeticError, ValueError) as e:
            raise web.HTTPBadRequest(text=f"the dispute cannot be sent: {e}") from None
        return await self._submit(session, f"dispute_{uid}.xml", data)

    def _administrator(self, request: web.Request) -> tuple[Session, Member]:
        session = self._session(request)
        member = self.deps.directory().active(session.user)
        if member is None or not member.is_admin_of(session.company) or self.deps.submit is None:
            raise web.HTTPForbidden(text="the company's administrators manage its users")
        return session, member

    async def users(self, request: web.Request) -> web.Response:
        """The company's users (its own and those with access to it), for its administrators:
        each change is a form that sends the ``cass:UserAdministration`` message its
        in-house system would, so the same rules judge it and the same audit records it."""
        session, member = self._administrator(request)
        config = self.deps.config()
        directory = self.deps.directory()
        people = directory.of_company(session.company)
        return render(request, self.deps, "users.html", people=people,
                      roles=[r.value for r in Role], sent=request.query.get("sent", "")[:200],
                      may_submit=True, **_header(config, member, session))  # fmt: skip

    async def change_user(self, request: web.Request) -> web.Response:
        session, _ = self._administrator(request)
        f = await request.post()
        kind = str(f.get("kind", ""))
        if kind not in CHANGE_KINDS:
            raise web.HTTPBadRequest(text="unknown change")
        keys = tuple(k.strip() for k in str(f.get("key", "")).splitlines() if k.strip())
        change = UserChangeRequest(
            kind=kind, user=str(f.get("user", "")).strip(),
            access_company=str(f.get("access_company", "")).strip() or None,
            full_name=str(f.get("full_name", "")).strip(), email=str(f.get("email", "")).strip(),
            roles=tuple(str(r) for r in f.getall("roles", [])), keys=keys,
        )  # fmt: skip
        uid = uuid.uuid4()
        try:
            data = encode_user_administration(UserAdministration(f"urn:uuid:{uid}", (change,)))
        except ValueError as e:
            raise web.HTTPBadRequest(text=f"the change cannot be sent: {e}") from None
        response = await self._submit(session, f"users_{uid}.xml", data)
        response.headers["Location"] = response.headers["Location"].replace("/?", "/users?", 1)
        return response

    async def settings(self, request: web.Request, problems: tuple[str, ...] = ()
                       ) -> web.Response:  # fmt: skip
        """The company's notifications and delivery, for its administrators: the rules in
        force and their source, its own rules and push server (``config.selfservice``)."""
        session, member = self._administrator(request)
        config = self.deps.config()
        company = config.companies[session.company]
        own = await asyncio.to_thread(selfservice.settings_of, config, company.id)
        key_path = push_key_path(config.gateway.data_dir, company.id)
        public = None
        if await asyncio.to_thread(key_path.exists):
            public = await asyncio.to_thread(selfservice.push_public_key, config, company.id)
        return render(
            request, self.deps, "settings.html", status=400 if problems else 200,
            rules=rules_in_force(company, own), own=own, file_push=company.push,
            push=own.push if own and own.push is not None else None, public_key=public,
            event_types=[e.value for e in EventType], formats=FORMATS, problems=problems,
            saved=bool(request.query.get("saved")), may_submit=_may_submit(member, session),
            **_header(config, member, session),
        )  # fmt: skip

    async def change_settings(self, request: web.Request) -> web.Response:
        """One change of the company's own settings; audited; in force within seconds."""
        session, _ = self._administrator(request)
        config = self.deps.config()
        f = await request.post()
        kind = str(f.get("kind", ""))
        if kind not in selfservice.CHANGES:
            raise web.HTTPBadRequest(text="unknown change")
        try:
            detail = await asyncio.to_thread(
                selfservice.apply_change, config, session.company, session.user, kind, f,
                self.deps.clock(),
            )  # fmt: skip
        except selfservice.SettingsRefusedError as e:
            return await self.settings(request, tuple(e.problems))
        await self.deps.audit("company_settings_changed", user=session.user,
                              company=session.company, change=kind, **detail)  # fmt: skip
        return see_other("/settings?saved=1")

    def _office_admin(self, request: web.Request) -> Session:
        session = self._session(request)
        member = self.deps.directory().active(session.user)
        user = member.as_user(session.company) if member else None
        office = self.deps.config().companies[session.company].kind is CompanyKind.OPERATOR
        if user is None or not office or not user.can(Role.ADMIN) or not session.country:
            raise web.HTTPForbidden(text="for the CASS office's administrators")
        return session

    async def record_payment(self, request: web.Request) -> web.Response:
        """The CASS office records an agent's payment by hand (``opencass payment record``)."""
        session = self._office_admin(request)
        config = self.deps.config()
        f = await request.post()
        currency = config.countries[session.country].currency
        try:
            amount = Decimal(str(f.get("amount", "")).strip())
            value_date = date.fromisoformat(str(f.get("value_date", "")).strip())
        except (InvalidOperation, ValueError):
            raise web.HTTPBadRequest(text="give an amount and a value date (YYYY-MM-DD)") from None
        if not payable(amount, currency):
            raise web.HTTPBadRequest(text=f"the amount must be positive, in {currency}")
        hand = HandPayment(
            session.country, str(f.get("agent", "")).strip(), amount, value_date,
            str(f.get("period", "")).strip() or None, str(f.get("reference", "")).strip()[:140],
            f"portal:{session.user}",
        )  # fmt: skip
        try:
            paid, period = await asyncio.to_thread(record_payment, config, hand, self.deps.clock())
        except PaymentRefusedError as e:
            raise web.HTTPConflict(text=str(e)) from None
        await self.deps.audit("payment_recorded", user=session.user, payment=paid,
                              country=hand.country, agent=hand.agent, period=period,
                              amount=str(amount))  # fmt: skip
        return see_other(f"/?sent={quote(f'payment #{paid}')}")

    async def reinstate(self, request: web.Request) -> web.Response:
        """The CASS office lifts an agent's default (``opencass agent reinstate``)."""
        session = self._office_admin(request)
        f = await request.post()
        agent, reason = str(f.get("agent", "")).strip(), str(f.get("reason", "")).strip()
        if not reason:
            raise web.HTTPBadRequest(text="give the reason for lifting the default")
        lifted = await asyncio.to_thread(
            reinstate, self.deps.config(), session.country, agent, reason[:500],
            f"portal:{session.user}", self.deps.clock(),
        )  # fmt: skip
        if not lifted:
            raise web.HTTPConflict(text=f"agent {agent} is not in default in {session.country}")
        await self.deps.audit("agent_reinstated", user=session.user, country=session.country,
                              agent=agent, reason=reason[:500])  # fmt: skip
        return see_other("/")

    async def retry_delivery(self, request: web.Request) -> web.Response:
        """The CASS office queues a dead letter again (``opencass outbox retry``)."""
        session = self._office_admin(request)
        config = self.deps.config()
        f = await request.post()
        try:
            delivery = int(str(f.get("delivery", "")))
        except ValueError:
            raise web.HTTPBadRequest(text="no delivery") from None
        done = await asyncio.to_thread(pages.retry_delivery, config, delivery, self.deps.clock())
        if not done:
            raise web.HTTPConflict(text=f"delivery #{delivery} is not a dead letter")
        await self.deps.audit("outbox_retried", user=session.user, delivery=delivery)
        return see_other("/")

    async def withdraw(self, request: web.Request) -> web.Response:
        """An airline withdraws a file it submitted: the ONE Record withdrawal request its
        system would upload (the intake checks the cut-off and that the file is its own)."""
        session, _ = self._submitter(request)
        f = await request.post()
        uid = uuid.uuid4()
        try:
            data = encode_withdrawal(
                WithdrawalRequest(
                    f"urn:uuid:{uid}",
                    file_id=str(f.get("file", "")),
                    reason=str(f.get("reason", "")).strip(),
                )
            )
        except ValueError as e:
            raise web.HTTPBadRequest(text=f"the withdrawal cannot be sent: {e}") from None
        return await self._submit(session, f"withdraw_{uid}.xml", data)

    async def answer_dispute(self, request: web.Request) -> web.Response:
        """An airline's answer to a dispute, as the ONE Record status update it would upload."""
        session, _ = self._submitter(request)
        config = self.deps.config()
        f = await request.post()
        status = {"accept": "REQUEST_ACCEPTED", "reject": "REQUEST_REJECTED"}.get(
            str(f.get("answer", ""))
        )
        if status is None or config.companies[session.company].kind is not CompanyKind.AIRLINE:
            raise web.HTTPBadRequest(text="an answer is accept or reject, by the airline")
        corrected = str(f.get("corrected", "")).replace(",", ".").strip()
        try:
            update = DisputeStatusUpdate(
                iri=str(f.get("iri", "")), kind=str(f.get("kind", "change")), status=status,
                at=self.deps.clock().isoformat(),
                currency=config.countries[session.country].currency if corrected else None,
                corrected_amount=Decimal(corrected) if corrected else None,
                comment=str(f.get("comment", "")).strip(),
            )  # fmt: skip
            data = encode_dispute(update, base_iri=config.gateway.public_url)
        except (ArithmeticError, ValueError) as e:
            raise web.HTTPBadRequest(text=f"the answer cannot be sent: {e}") from None
        return await self._submit(session, f"dispute-answer_{uuid.uuid4()}.xml", data)

    async def statistics(self, request: web.Request) -> web.Response:
        """An airline's tonnage, revenue and yield, by agent and by route, for a period and the
        year to date: charts, with every figure in a table beside."""
        session = self._session(request)
        config = self.deps.config()
        member = self.deps.directory().active(session.user)
        assert member is not None
        if config.companies[session.company].kind is not CompanyKind.AIRLINE:
            raise web.HTTPNotFound(text="statistics are an airline's")
        periods = [p.code for p in config.calendars.get(session.country, ())]
        today = self.deps.clock().date()
        current = config.period_for(session.country, today)
        code = request.query.get("period") or (current.code if current else "")
        if code not in periods:
            raise web.HTTPNotFound(text="no such period")
        found = await self._statistics(config, session.company, session.country, code)
        return render(request, self.deps, "statistics.html", stats=found, period=code,
                      top=pages.top, periods=[p for p in periods if p[:4] == code[:4]],
                      may_submit=_may_submit(member, session),
                      **_header(config, member, session))  # fmt: skip

    async def _statistics(
        self, config: Config, company: str, country: str, code: str
    ) -> list[Tonnage]:
        """``pages.statistics``, kept while nothing the airline's pages show has changed (the
        ledger of a large airline takes a second to sum)."""
        version = await asyncio.to_thread(pages.version, config, company)
        key = (id(config), company, country, code, version)
        found = self._stats.get(key)
        if found is None:
            found = await asyncio.to_thread(pages.statistics, config, company, country, code)
            self._stats[key] = found
            while len(self._stats) > STATS_KEPT:
                self._stats.pop(next(iter(self._stats)))
        return found

    async def changes(self, request: web.Request) -> web.Response:
        """The dashboard's fingerprint: its page polls this and reloads when it moves."""
        session = self._session(request)
        version = await asyncio.to_thread(pages.version, self.deps.config(), session.company)
        return web.json_response({"version": version})


# -- sign-in ----------------------------------------------------------------------------------


class _Handlers(_Submissions):
    def __init__(self, deps: PortalDeps, codec: SessionCodec) -> None:
        self.deps = deps
        self.codec = codec
        self._client: OidcSignIn | None = None
        self._stats: dict[tuple[object, ...], list[Tonnage]] = {}

    async def signin_form(self, request: web.Request) -> web.Response:
        token = request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(24)
        error = "oidc" if request.query.get("error") == "oidc" else ""
        response = render(request, self.deps, "signin.html", signin_token=token,
                          error=error, oidc=_oidc_on(self.deps))  # fmt: skip
        _set_cookie(response, SIGNIN_COOKIE, token, request, self.deps)
        return response

    async def _failed(self, ip: str, user: str | None, **why: str) -> None:
        """A failed sign-in: scored on the ban list shared with SFTP, and audited."""
        for what in self.deps.bans.failure(self.deps.config().gateway.ban, ip=ip, user=user):
            log.warning("portal_banned", banned=what)
        await self.deps.audit("portal_signin_failed", user=user, ip=ip, **why)

    def _refuse(self, request: web.Request, error: str, status: int) -> web.Response:
        token = secrets.token_urlsafe(24)
        response = render(request, self.deps, "signin.html", status=status, signin_token=token,
                          error=error, oidc=_oidc_on(self.deps))  # fmt: skip
        _set_cookie(response, SIGNIN_COOKIE, token, request, self.deps)
        return response

    async def signin(self, request: web.Request) -> web.Response:
        form = await request.post()
        cookie = request.cookies.get(SIGNIN_COOKIE, "")
        if not cookie or not hmac.compare_digest(str(form.get("signin_token", "")), cookie):
            raise web.HTTPForbidden(text="the form's security token is missing or stale: reload")
        ip = client_address(request, _settings(self.deps).trusted_proxies)
        config = self.deps.config()
        policy = config.gateway.ban
        if self.deps.bans.banned(ip=ip):
            return self._refuse(request, "banned", 429)
        name = str(form.get("user", ""))[:64]
        password = str(form.get("password", ""))[:1024]
        await asyncio.sleep(self.deps.bans.delay(policy, ip=ip, user=name))
        member = self.deps.directory().active(name)
        stored = member.user.password_hash if member else None
        ok = await asyncio.to_thread(verify_password, password, stored or dummy_hash())
        if not (ok and member is not None and stored):
            await self._failed(ip, name, why="password")
            return self._refuse(request, "wrong", 401)
        if not member.user.totp_secret:
            await self.deps.audit("portal_signin_failed", user=name, ip=ip, why="no second factor")
            return self._refuse(request, "no_totp", 403)
        session = Session.fresh(name, AWAITING_CODE, self.deps.clock().timestamp())
        response = see_other("/signin/code")
        _set_cookie(response, COOKIE, self.codec.dump(session), request, self.deps)
        response.del_cookie(SIGNIN_COOKIE, path="/")
        return response

    @staticmethod
    def _halfway(request: web.Request) -> Session | None:
        session: Session | None = request.get(SESSION)
        return session if session is not None and session.stage == AWAITING_CODE else None

    async def code_form(self, request: web.Request) -> web.Response:
        if self._halfway(request) is None:
            return see_other("/signin")
        return render(request, self.deps, "code.html", error="")

    async def code(self, request: web.Request) -> web.Response:
        session = self._halfway(request)
        if session is None:
            return see_other("/signin")
        form = await request.post()
        if not hmac.compare_digest(str(form.get("csrf", "")), session.csrf):
            raise web.HTTPForbidden(text="the form's security token is missing or stale: reload")
        ip = client_address(request, _settings(self.deps).trusted_proxies)
        member = self.deps.directory().active(session.user)
        now = self.deps.clock()
        step = self._valid_step(member, str(form.get("code", "")).strip(), now)
        if member is None or step is None:
            await self._failed(ip, session.user, why="code")
            return render(request, self.deps, "code.html", status=401, error="wrong")
        self.deps.used_codes[session.user] = step
        company = member.company
        full = replace(
            Session.fresh(session.user, SIGNED_IN, now.timestamp()),
            company=company,
            country=_first_country(self.deps.config(), company),
        )
        await self.deps.audit("portal_signin", user=session.user, ip=ip)
        response = see_other("/")
        _set_cookie(response, COOKIE, self.codec.dump(full), request, self.deps)
        return response

    def _valid_step(self, member: Member | None, code: str, now: datetime) -> int | None:
        """The time step of ``code`` if it is the member's current (or adjacent) TOTP code
        and was not used before (a code is good once)."""
        if member is None or not member.user.totp_secret or not code.isdigit():
            return None
        totp = pyotp.TOTP(member.user.totp_secret)
        step = int(now.timestamp()) // totp.interval
        last = self.deps.used_codes.get(member.name, -1)
        for s in (step - 1, step, step + 1):
            if s > last and hmac.compare_digest(totp.at(s * totp.interval), code):
                return s
        return None

    # -- OpenID Connect ------------------------------------------------------------------------

    def _redirect_uri(self, request: web.Request) -> str:
        scheme = "https" if _https(request, self.deps) else "http"
        return f"{scheme}://{request.host}/signin/oidc/callback"

    async def oidc_begin(self, request: web.Request) -> web.Response:
        """To the provider, with state, nonce and PKCE challenge; the verifier stays here."""
        if not _oidc_on(self.deps):
            raise web.HTTPNotFound(text="no OpenID Connect provider is configured")
        client = self._oidc()
        try:
            url, kept = await client.begin(self._redirect_uri(request))
        except (OidcError, aiohttp.ClientError, TimeoutError, KeyError, ValueError) as e:
            log.warning("portal_oidc_unavailable", error=str(e))
            return see_other("/signin?error=oidc")
        kept["t"] = self.deps.clock().timestamp()
        response = see_other(url)
        _set_cookie(response, OIDC_COOKIE, self.codec.seal(kept), request, self.deps, lax=True)
        return response

    async def oidc_callback(self, request: web.Request) -> web.Response:
        """Back from the provider: the code exchanged, the ID token checked, its user signed in
        (a new session); any failure counts on the ban list as a wrong password does."""
        now = self.deps.clock().timestamp()
        kept = self.codec.unseal(request.cookies.get(OIDC_COOKIE), now, OIDC_SECONDS)
        ip = client_address(request, _settings(self.deps).trusted_proxies)
        state = request.query.get("state", "")
        ok_state = bool(kept) and hmac.compare_digest(state, str(kept.get("state", "")))
        member = None
        why = "state"
        if ok_state and "code" in request.query and _oidc_on(self.deps):
            try:
                claims = await self._oidc().finish(
                    request.query["code"], self._redirect_uri(request), kept,
                    system_clock().timestamp(),  # the provider's tokens are on real time
                )  # fmt: skip
                member = member_for(claims, self.deps.config().gateway.portal.oidc.user_claim,
                                    self.deps.directory())  # fmt: skip
                why = "no such user"
            except (OidcError, aiohttp.ClientError, TimeoutError, KeyError, ValueError) as e:
                why = f"oidc: {e}"
        if member is None:
            log.warning("portal_oidc_refused", ip=ip, why=why)
            await self._failed(ip, None, why=why, via="oidc")
            response = see_other("/signin?error=oidc")
        else:
            full = replace(
                Session.fresh(member.name, SIGNED_IN, now), company=member.company,
                country=_first_country(self.deps.config(), member.company),
            )  # fmt: skip
            await self.deps.audit("portal_signin", user=member.name, ip=ip, via="oidc")
            # a page of ours that moves on to the dashboard: a redirect would still be part of
            # the provider's cross-site navigation, which carries no SameSite=Strict cookie
            response = render(request, self.deps, "continue.html")
            _set_cookie(response, COOKIE, self.codec.dump(full), request, self.deps)
        response.del_cookie(OIDC_COOKIE, path="/")
        return response

    def _oidc(self) -> OidcSignIn:
        settings = self.deps.config().gateway.portal.oidc
        if self._client is None or self._client.settings != settings:
            self._client = OidcSignIn(settings)
        return self._client

    async def signout(self, request: web.Request) -> web.Response:
        session: Session | None = request.get(SESSION)
        if session is not None:
            await self.deps.audit("portal_signout", user=session.user)
        request[SESSION] = None
        response = see_other("/signin")
        response.del_cookie(COOKIE, path="/")
        return response

    # -- pages --------------------------------------------------------------------------------

    def _session(self, request: web.Request) -> Session:
        session = request[SESSION]
        assert session is not None  # the session middleware let only signed-in users here
        return session

    async def home(self, request: web.Request) -> web.Response:
        session = self._session(request)
        config = self.deps.config()
        member = self.deps.directory().active(session.user)
        assert member is not None  # the session middleware checked
        if not session.country:
            return render(request, self.deps, "empty.html", **_header(config, member, session))
        period = request.query.get("period") or None
        board = await asyncio.to_thread(
            pages.dashboard, config, session.company, session.country, self.deps.clock(), period
        )
        version = await asyncio.to_thread(pages.version, config, session.company)
        return render(
            request, self.deps, f"{board.kind}.html", board=board, version=version,
            sent=request.query.get("sent", "")[:200], may_submit=_may_submit(member, session),
            **_header(config, member, session),
        )  # fmt: skip

    async def switch(self, request: web.Request) -> web.Response:
        session = self._session(request)
        form = await request.post()
        config = self.deps.config()
        member = self.deps.directory().active(session.user)
        assert member is not None
        company = str(form.get("company", session.company))
        if company not in member.companies() or company not in config.companies:
            raise web.HTTPForbidden(text="you may not act for that company")
        countries = config.companies[company].countries
        country = str(form.get("country", ""))
        if country not in countries:
            country = session.country if session.country in countries else _first(countries)
        request[SESSION] = replace(session, company=company, country=country)
        return see_other("/")

    async def language(self, request: web.Request) -> web.Response:
        session = self._session(request)
        form = await request.post()
        lang = str(form.get("lang", ""))
        if lang not in LANGUAGES:
            raise web.HTTPBadRequest(text="unknown language")
        request[SESSION] = replace(session, lang=lang)
        back = form.get("back")
        return see_other(back if isinstance(back, str) and _local(back) else "/")

    async def document(self, request: web.Request) -> web.StreamResponse:
        session = self._session(request)
        config = self.deps.config()
        name = request.match_info["name"]
        path = pages.outbox_file(config, session.company, name)
        if path is None:
            raise web.HTTPNotFound(text="no such document")
        if self.deps.downloaded is not None:
            await self.deps.downloaded(
                session.company, session.user, f"/outbox/{name}", path.stat().st_size
            )
        return web.FileResponse(
            path, headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )


def see_other(location: str) -> web.Response:
    """A redirect to ``location`` (returned, so the session middleware can set its cookie)."""
    return web.Response(status=303, headers={"Location": location})


def _may_submit(member: Member, session: Session) -> bool:
    user = member.as_user(session.company)
    return user is not None and user.can(Role.INPUT)


def _local(value: object) -> bool:
    return isinstance(value, str) and value.startswith("/") and not value.startswith("//")


def _first(countries: tuple[str, ...]) -> str:
    return countries[0] if countries else ""


def _first_country(config: Config, company: str) -> str:
    c = config.companies.get(company)
    return _first(c.countries) if c else ""


def _header(config: Config, member: Member, session: Session) -> dict[str, Any]:
    """The header's choices: each company the user may act for, with its countries."""
    choices = []
    for company_id in member.companies():
        company = config.companies.get(company_id)
        if company is not None:
            choices.append((company, company.countries))
    current = config.companies[session.company]
    return {"choices": choices, "current": current, "member": member}


def build_app(deps: PortalDeps, key: bytes) -> web.Application:
    """The portal's application."""
    codec = SessionCodec(key, _settings(deps).idle_minutes * 60)
    h = _Handlers(deps, codec)
    app = web.Application(
        middlewares=[_headers_middleware(deps), _session_middleware(deps, codec)],
        client_max_size=MAX_UPLOAD + 64 * 1024,
    )
    app.router.add_get("/signin", h.signin_form)
    app.router.add_post("/signin", h.signin)
    app.router.add_get("/signin/code", h.code_form)
    app.router.add_post("/signin/code", h.code)
    app.router.add_post("/signout", h.signout)
    app.router.add_get("/signin/oidc", h.oidc_begin)
    app.router.add_get("/signin/oidc/callback", h.oidc_callback)
    app.router.add_get("/", h.home)
    app.router.add_post("/switch", h.switch)
    app.router.add_post("/language", h.language)
    app.router.add_get("/documents/{name}", h.document)
    app.router.add_get("/changes", h.changes)
    app.router.add_get("/upload", h.upload_form)
    app.router.add_post("/upload", h.upload)
    app.router.add_get("/awb", h.awb)
    app.router.add_get("/statistics", h.statistics)
    app.router.add_post("/disputes", h.open_dispute)
    app.router.add_post("/disputes/answer", h.answer_dispute)
    app.router.add_post("/withdraw", h.withdraw)
    app.router.add_post("/outbox/retry", h.retry_delivery)
    app.router.add_post("/payments", h.record_payment)
    app.router.add_post("/reinstate", h.reinstate)
    app.router.add_get("/users", h.users)
    app.router.add_get("/settings", h.settings)
    app.router.add_post("/settings", h.change_settings)
    app.router.add_post("/users", h.change_user)
    app.router.add_static("/static/", HERE / "static", append_version=False)
    return app


@dataclass(slots=True)
class Portal:
    """The running portal."""

    runner: web.AppRunner
    url: str
    port: int

    async def stop(self) -> None:
        """Stop listening and end open requests."""
        await self.runner.cleanup()


async def start_portal(deps: PortalDeps) -> Portal:
    """Serve the portal on ``[portal] listen``."""
    config = deps.config()
    settings = config.gateway.portal
    key = await asyncio.to_thread(load_key, config.gateway.data_dir / KEY_FILE)
    runner = web.AppRunner(build_app(deps, key), access_log=None, handle_signals=False)
    await runner.setup()
    host, _, port = settings.listen.rpartition(":")
    context = None
    if settings.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(settings.tls_certificate, settings.tls_key)
    site = web.TCPSite(runner, host.strip("[]"), int(port), ssl_context=context)
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    bound = int(sockets[0].getsockname()[1]) if sockets else int(port)
    scheme = "https" if settings.tls else "http"
    url = f"{scheme}://{host}:{bound}/"
    log.info("portal_listening", url=url)
    return Portal(runner, url, bound)
