"""The SFTP endpoint: participants log in and are chrooted into their company's mailbox.

Theory of operation
-------------------
One ``_Connection`` (an asyncssh ``SSHServer``) per TCP connection does authentication, the
brute-force ban list, the session cap and the idle timer.  Each SFTP channel gets a
``_ChannelSession`` (asyncssh's own stream session, watching for the end of the client's
input) and a ``_MailboxSFTP`` (an ``SFTPServer``) that resolves every client path inside the
company tree and checks the user's roles (the rules live in ``gateway/mailbox.py``).

**Publish on clean close.**  Opening a file for writing in an inbox creates a hidden temp
file ``.<name>.<random>.upload`` beside the final name; writes go there.  The file is published
(fsync, then linked to its final name without overwriting, then the directory fsynced, all in a
worker thread) only when the *client* closes it, and only then does ``events.uploaded`` fire.

asyncssh calls ``SFTPServer.close()`` in two situations that look alike from inside
``close()``: for a client's CLOSE request (``SFTPServerHandler._process_close``), and from
``SFTPServerHandler._cleanup()`` for every handle still open when the session ends, just before
``exit()``.  ``_cleanup`` runs when reading the next request failed: the client sent EOF or
closed the channel (e.g. the ``sftp`` process was killed and its ``ssh`` closed stdin), or the
connection dropped (``connection_lost`` reaches the channel's session, whose reader raises).
In every such case the channel's session has seen ``eof_received()`` or ``connection_lost()``
before the cleanup ``close()`` runs, so ``_ChannelSession.input_ended`` is true: the upload is
then discarded (temp file deleted) instead of published.  The flag can also be set while a
client's CLOSE request is still queued behind the drop; that upload is discarded too, which is
safe: the client never received its success status and has to send the file again.  The one
case the flag cannot see is a session asyncssh kills for a malformed SFTP packet while the
input is still open: files open at that moment are published as they stand, which is no worse
than a client closing a truncated file on purpose (intake validates every file anyway).

Uploads to a temp name followed by a rename (WinSCP ``*.filepart``, ``*.part``, ``*.tmp``,
dot-files) work: such names are published on close like any other but never reported, and the
rename inside the inbox to a final name is what fires ``events.uploaded``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from secrets import token_hex
from typing import Any, Protocol

import asyncssh
import structlog
from asyncssh.channel import SSHChannel
from asyncssh.stream import SSHServerStreamSession

from opencass import files
from opencass.clock import Clock, system_clock
from opencass.config.model import Config, User
from opencass.gateway import mailbox as mb
from opencass.gateway.mailbox import BanList, Op, Place, hash_password, verify_password
from opencass.identity.certificates import CertFacts, Trust
from opencass.identity.directory import Directory, Member, View, file_directory, views
from opencass.identity.profile import PROFILE_NAME, profile_json

__all__ = [
    "BanList",
    "MailboxEvents",
    "SftpEndpoint",
    "hash_password",
    "start_sftp_server",
    "verify_password",
]

_log = structlog.get_logger("opencass.gateway.sftp")
_MAX_READ = 256 * 1024  # bytes per read request
_INLINE_WRITE = 256 << 10  # bytes
_MAX_CHANNELS = 4  # SFTP sessions per SSH connection
_SFTP_VERSION = 3
_NO_LINKS = "links are not supported"
_EXIT_WAIT = 30.0  # seconds a lost connection may take to finish its SFTP cleanup


# A session began reading an outbox file: (company, user, client path, size).
DownloadHook = Callable[[str, str, str, int], Coroutine[Any, Any, Any]]


class MailboxEvents(Protocol):
    """What the endpoint tells the rest of the gateway."""

    def uploaded(self, company: str, user: str, path: Path, size: int, sandbox: bool) -> None:
        """A complete upload was just published into an inbox (``path`` is on disk)."""

    def audit(self, event: str, **fields: object) -> None:
        """An audit event: login_ok, login_failed, banned, upload, download, delete, denied..."""


@functools.lru_cache(maxsize=4096)
def _key_data(line: str) -> bytes | None:
    try:
        return asyncssh.import_public_key(line).public_data
    except (asyncssh.KeyImportError, ValueError):
        return None


def _key_set(user: User) -> set[bytes]:
    return {d for line in user.public_keys if (d := _key_data(line)) is not None}


# -- the connection ------------------------------------------------------------------------


class _ChannelSession(SSHServerStreamSession[bytes]):
    """asyncssh's SFTP channel session, noting when the client's input has ended."""

    def __init__(self, owner: _Connection):
        super().__init__(None, self._make_server, _SFTP_VERSION, False)
        self.owner = owner
        self.input_ended = False

    async def _make_server(self, chan: SSHChannel[bytes]) -> asyncssh.SFTPServer:
        assert isinstance(chan, asyncssh.SSHServerChannel)
        return await self.owner.sftp_server(chan, self)

    def eof_received(self) -> bool:
        self.input_ended = True
        return super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.input_ended = True
        self.owner.channels -= 1
        super().connection_lost(exc)


class _Connection(asyncssh.SSHServer):
    """One client connection: authentication, bans, session cap, idle timer."""

    def __init__(self, endpoint: SftpEndpoint):
        self.ep = endpoint
        self.conn: asyncssh.SSHServerConnection | None = None
        self.peer = "?"
        self.session_id = token_hex(4)
        self.username: str | None = None
        self.user: User | None = None
        self.channels = 0  # open session channels
        self.sftp_sessions = 0  # SFTP servers not yet through exit()
        self.lost = False
        self.log = _log.bind(session=self.session_id)
        self._refused = False
        self._rejected_key = False
        self._last_activity = 0.0
        self._idle_timer: asyncio.TimerHandle | None = None

    def audit(self, event: str, **fields: object) -> None:
        """Send an audit event with this connection's context; never raises."""
        base: dict[str, object] = {"session": self.session_id, "peer": self.peer}
        if self.user is not None:
            base.update(company=self.user.company, user=self.user.name)
        elif self.username is not None:
            base["user"] = self.username
        fields = base | fields
        self.log.info(event, **fields)
        try:
            self.ep.events.audit(event, **fields)
        except Exception:
            self.log.exception("audit_failed", audit_event=event)

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        # certificates pass identity.certificates' rules (principal, injected clock, revocation)
        # first; the one private asyncssh hook used, held by tests/gateway/test_certificates.py
        check = conn._validate_openssh_certificate
        conn._validate_openssh_certificate = functools.partial(self._check_certificate, check)  # type: ignore[method-assign]
        peer = conn.get_extra_info("peername")
        self.peer = str(peer[0]) if peer else "?"
        self.log = self.log.bind(peer=self.peer)
        self.ep.register(self)
        if self.ep.bans.banned(ip=self.peer):
            self._refuse("banned")
            return
        limits = self.ep.config().gateway.limits
        if self.ep.unauthenticated_from(self.peer) >= limits.max_unauthenticated_per_address:
            self._refuse("too many connections not logged in from this address")
            return
        while self.ep.unauthenticated_count() >= limits.max_unauthenticated:
            oldest = self.ep.oldest_unauthenticated()
            if oldest is None:
                break
            oldest._refuse("dropped for a newer connection (too many not logged in)")
            self.ep.authenticated_or_gone(oldest)
        self.ep.not_logged_in(self)

    def _refuse(self, reason: str) -> None:
        self._refused = True
        self.audit("login_refused", reason=reason)
        if self.conn is not None:
            self.conn.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        if self.user is None and self._rejected_key and not self._refused:
            self._score_failure("publickey")
        self.lost = True
        self.ep.authenticated_or_gone(self)
        self.log.info("connection_closed", reason=str(exc) if exc else "closed")
        self.sftp_ended(0)
        if self.sftp_sessions:  # asyncssh skips exit() if a cleanup close() raised
            asyncio.get_running_loop().call_later(_EXIT_WAIT, self.ep.unregister, self)

    def sftp_ended(self, sessions: int = 1) -> None:
        """SFTP sessions finished their cleanup; the connection is done after the last one."""
        self.sftp_sessions -= sessions
        if self.lost and not self.sftp_sessions:
            self.ep.unregister(self)

    async def begin_auth(self, username: str) -> bool:
        self.username = username
        if not self._refused and self.ep.bans.banned(ip=self.peer):
            self._refuse("banned")
        cfg = self.ep.config().gateway
        if not self._refused and self.ep.logged_in() >= cfg.limits.max_sessions:
            self._refuse("too many sessions")
        policy = cfg.ban
        wait = self.ep.bans.delay(policy, ip=self.peer, user=username)
        if wait and not self._refused:  # a user under attack: slow the failing addresses
            self.audit("login_slowed", seconds=wait)
            await asyncio.sleep(wait)
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        member = self.ep.member(username)
        user = member.user if member is not None else None
        if not self._refused and user is not None and key.public_data in _key_set(user):
            if not self.ep.trust().revoked.revoked_key(key.public_data):
                return True
            self.audit("key_revoked", user=username)
        self._rejected_key = True
        return False

    def validate_ca_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return key.public_data in self.ep.trust().ca_keys

    async def _check_certificate(
        self, check: Callable[..., Coroutine[Any, Any, Any]], username: str, cert: Any
    ) -> Any:
        """Our rules for a certificate (identity.certificates) before asyncssh's own."""
        reason = self.ep.trust().refusal(_cert_facts(cert), username, self.ep.now())
        if reason is None and self.ep.member(username) is None:
            reason = "no such active user"
        if reason is not None or self._refused:
            self.audit("certificate_refused", user=username, reason=reason or "refused")
            self._rejected_key = True
            return None
        return await check(username, cert)

    def password_auth_supported(self) -> bool:
        return any(m.user.password_hash for m in self.ep.directory().members.values())

    async def validate_password(self, username: str, password: str) -> bool:
        if self._refused:
            return False
        member = self.ep.member(username)
        stored = member.user.password_hash if member is not None else None
        ok = await asyncio.to_thread(verify_password, password, stored or mb.dummy_hash())
        if ok and stored is not None:
            return True
        self._score_failure("password")
        return False

    def _score_failure(self, method: str) -> None:
        self.audit("login_failed", method=method)
        policy = self.ep.config().gateway.ban
        for what in self.ep.bans.failure(policy, ip=self.peer, user=self.username):
            self.audit("banned", target=what, seconds=policy.ban_seconds)
        if self.ep.bans.banned(ip=self.peer) and self.conn is not None:
            self._refused = True
            self.conn.close()

    def auth_completed(self) -> None:
        cfg = self.ep.config()
        member = self.ep.member(self.username or "")
        self.user = member.user if member is not None else None
        if member is None:  # removed, suspended or reloaded during the login
            self._refuse("unknown user")
            return
        if not views(member, cfg, self.ep.now()):
            self._refuse("the user's CASS countries are not open yet (planned)")
            return
        self._rejected_key = False
        self.ep.authenticated_or_gone(self)
        if self.ep.logged_in() > cfg.gateway.limits.max_sessions:
            self._refuse("too many sessions")
            return
        self.log = self.log.bind(company=self.user.company, user=self.user.name)
        self.audit("login_ok")
        self.touch()
        self._arm_idle(cfg.gateway.idle_timeout_seconds)

    def session_requested(self) -> _ChannelSession | bool:
        if self.user is None or self.channels >= _MAX_CHANNELS:
            return False
        self.channels += 1
        return _ChannelSession(self)

    async def sftp_server(self, chan: asyncssh.SSHServerChannel[bytes], session: _ChannelSession
                          ) -> _MailboxSFTP:  # fmt: skip
        """Prepare the company tree and serve it on ``chan``."""
        assert self.user is not None
        cfg = self.ep.config()
        member = self.ep.member(self.user.name)
        seen = views(member, cfg, self.ep.now()) if member is not None else []
        self.sftp_sessions += 1
        trees = []
        try:
            for view in seen:
                tree = await asyncio.to_thread(
                    mb.prepare_mailbox, cfg.gateway.mailboxes_dir, view.company,
                    self.ep.signing_key,
                )  # fmt: skip
                await self.ep.recount(view.company, tree)
                trees.append((view, Path(os.path.realpath(tree))))
        except BaseException:
            self.sftp_ended()
            raise
        self.log.info("sftp_session_start", companies=[v.company for v in seen])
        root = Path(os.path.realpath(cfg.gateway.mailboxes_dir))
        return _MailboxSFTP(chan, self, session, trees, root)

    def touch(self) -> None:
        """Note client activity (for the idle timeout)."""
        self._last_activity = time.monotonic()

    def _arm_idle(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        self._idle_timer = loop.call_later(max(delay, 0.05), self._idle_check)

    def _idle_check(self) -> None:
        limit = self.ep.config().gateway.idle_timeout_seconds
        idle_for = time.monotonic() - self._last_activity
        if idle_for < limit:
            self._arm_idle(limit - idle_for)
        elif self.conn is not None:
            self.audit("idle_timeout", seconds=round(idle_for, 1))
            self.conn.close()

    def close(self) -> None:
        """Close the connection (endpoint shutdown)."""
        if self.conn is not None:
            self.conn.close()


# -- the SFTP server -----------------------------------------------------------------------


def _check_attrs(attrs: asyncssh.SFTPAttrs, size: int | None = None) -> None:
    """Times, permissions and owners are accepted and ignored (clients set them after an
    upload: OpenSSH ``put -p``, rclone, WinSCP); a size other than the file's is refused."""
    if attrs.size is not None and attrs.size != size:
        raise mb.DeniedError("file sizes cannot be set")


# How long a just-closed upload still answers stat/lstat/setstat after intake claimed it from
# the inbox (clients check or touch a file right after closing it).
JUST_CLOSED_SECONDS = 60.0


class _MailboxSFTP(asyncssh.SFTPServer):
    """SFTP requests of one session, mapped onto the company trees the user reaches.

    A user of one company sees that company's tree as ``/`` (as always); a user acting for
    several sees one directory per company (``<company>.<countries>``) at a virtual root.
    ``/my-profile.json`` (read-only, at the root) says who the user is and what it may do."""

    def __init__(
        self, chan: asyncssh.SSHServerChannel[bytes], owner: _Connection,
        session: _ChannelSession, trees: list[tuple[View, Path]], root: Path,
    ) -> None:  # fmt: skip
        super().__init__(chan)
        assert owner.user is not None
        self._owner = owner
        self._session = session
        self._trees = {view.name: (view, tree) for view, tree in trees}
        self._single = trees[0] if len(trees) == 1 and not trees[0][0].name else None
        self._root = root  # the virtual root's stand-in on disk (several companies)
        self._username = owner.user.name
        self._uploads: set[mb.Writing] = set()
        self._upload_company: dict[mb.Writing, str] = {}
        self._downloaded: set[str] = set()  # audited once per session
        self._ep = owner.ep

    # helpers

    @contextlib.contextmanager
    def _boundary(self, op: str, path: bytes | str = b"") -> Iterator[None]:
        """Translate mailbox and OS errors into SFTP status codes, auditing refusals."""
        shown = path.decode("utf-8", "replace") if isinstance(path, bytes) else path
        try:
            yield
        except mb.DeniedError as exc:
            raise self._denied(op, shown, str(exc)) from None
        except mb.NotFoundError as exc:
            raise asyncssh.SFTPNoSuchFile(str(exc)) from None
        except mb.FailedError as exc:
            raise asyncssh.SFTPFailure(str(exc)) from None
        except FileNotFoundError:
            raise asyncssh.SFTPNoSuchFile("no such file or directory") from None
        except FileExistsError:
            raise asyncssh.SFTPFailure("file exists") from None
        except OSError as exc:
            self._owner.log.warning("sftp_os_error", op=op, path=shown, error=str(exc))
            raise asyncssh.SFTPFailure(exc.strerror or "input/output error") from None

    def _denied(self, op: str, path: str, reason: str) -> asyncssh.SFTPPermissionDenied:
        self._owner.audit("denied", op=op, path=path, reason=reason)
        return asyncssh.SFTPPermissionDenied(reason)

    def _member(self) -> Member:
        self._owner.touch()
        member = self._ep.member(self._username)
        if member is None:
            raise mb.DeniedError("this account is suspended, removed or no longer configured")
        return member

    def _user(self, view: View) -> User:
        """The user's rights in ``view``'s company as they are now (changes apply at once)."""
        user = self._member().as_user(view.company)
        if user is None:
            raise mb.DeniedError(f"this account no longer has access to {view.company}")
        return user

    def _locate(self, path: bytes) -> tuple[View | None, Place]:
        """The view and place of a client path; no view for the virtual root and the profile."""
        parts = mb.client_parts(path)
        if parts == (PROFILE_NAME,):
            return None, Place(parts, self._ep.profile_path(self._username))
        if self._single is not None:
            view, tree = self._single
            return view, mb.resolve_parts(tree, parts)
        if not parts:
            return None, Place((), self._root)
        found = self._trees.get(parts[0])
        if found is None:
            raise mb.NotFoundError("no such file or directory")
        return found[0], mb.resolve_parts(found[1], parts[1:])

    def _shown(self, view: View | None, place: Place) -> str:
        """A place's path as the client sees it."""
        if view is None or not view.name:
            return place.vpath
        return f"/{view.name}{place.vpath}".rstrip("/")

    def _place(self, op: Op, path: bytes) -> tuple[View, Place]:
        view, place = self._locate(path)
        if view is None:
            self._member()
            if op in (Op.LIST, Op.STAT) or (op is Op.READ and place.parts == (PROFILE_NAME,)):
                raise _Virtual(place)
            raise mb.DeniedError("only the inboxes accept files")
        mb.check(self._user(view), op, place)
        if view.sandbox_only and place.parts and not place.sandbox and not place.is_signing_key:
            raise mb.DeniedError(
                f"{view.company}'s CASS country is in its sandbox wave: until go-live only"
                " /sandbox/inbox and /sandbox/outbox are open"
            )
        return view, place

    @staticmethod
    def _upload(file_obj: object) -> mb.Writing:
        if not isinstance(file_obj, mb.Writing):
            raise asyncssh.SFTPPermissionDenied("file not opened for writing")
        return file_obj

    async def _discard(self, up: mb.Writing, reason: str) -> None:
        self._uploads.discard(up)
        company = self._upload_company.pop(up, "")
        if up.failure is None:
            up.failure = reason
        await asyncio.to_thread(up.discard)
        if not up.keeps_data:
            self._ep.usage.add(company, -up.size)
            up.size = 0

    def _arrived(self, company: str, place: Place, size: int) -> None:
        if mb.is_ignored_name(place.name):
            self._owner.log.info("upload_staged", path=place.vpath, size=size)
            return
        self._owner.audit("upload", path=place.vpath, size=size, sandbox=place.sandbox,
                          mailbox=company)  # fmt: skip
        try:
            self._ep.events.uploaded(company, self._username, place.host, size, place.sandbox)
        except Exception:
            self._owner.log.exception("uploaded_callback_failed", path=place.vpath)

    async def _profile(self, place: Place) -> None:
        """Write the user's profile file afresh (it is read like any outbox file)."""
        member = self._member()
        views_now = [v for v, _ in self._trees.values()]
        data = profile_json(member, views_now, self._ep.config())
        await asyncio.to_thread(_write_if_changed, place.host, data)

    # paths and listings

    def format_user(self, uid: int | None) -> str:
        return "cass"

    def format_group(self, gid: int | None) -> str:
        return "cass"

    def map_path(self, path: bytes) -> bytes:
        raise asyncssh.SFTPOpUnsupported("not used")

    def realpath(self, path: bytes) -> bytes:
        with self._boundary("realpath", path):
            view, place = self._locate(path)
            return self._shown(view, place).encode() or b"/"

    async def stat(self, path: bytes) -> os.stat_result:
        with self._boundary("stat", path):
            try:
                view, place = self._place(Op.STAT, path)
            except _Virtual as v:
                if v.place.parts:
                    await self._profile(v.place)
                return os.stat(v.place.host)
            try:
                return os.lstat(place.host)
            except FileNotFoundError:
                recent = self._ep.just_closed(view.company, place.vpath)
                if recent is None:
                    raise
                return recent

    lstat = stat

    def scandir(self, path: bytes) -> AsyncIterator[asyncssh.SFTPName]:
        with self._boundary("list", path):
            try:
                _view, place = self._place(Op.LIST, path)
            except _Virtual as v:
                if v.place.parts:
                    raise mb.NotFoundError("not a directory") from None
                return self._names(v.place, root=True, views=True)
            if not place.host.is_dir():
                raise mb.NotFoundError("not a directory")
        return self._names(place, root=self._single is not None and not place.parts)

    async def _names(
        self, place: Place, root: bool, views: bool = False
    ) -> AsyncIterator[asyncssh.SFTPName]:
        with self._boundary("list", place.vpath):
            if views:  # the virtual root of a user acting for several companies
                entries = [(name, os.stat(tree)) for name, (_, tree) in sorted(self._trees.items())]
            else:
                entries = await asyncio.to_thread(mb.list_dir, place)
            if root:
                profile = self._ep.profile_path(self._username)
                await self._profile(Place((PROFILE_NAME,), profile))
                entries = sorted([*entries, (PROFILE_NAME, os.stat(profile))])
            for name, p in ((".", place), ("..", place.parent)):
                st = os.lstat(p.host)
                yield asyncssh.SFTPName(name.encode(), attrs=asyncssh.SFTPAttrs.from_local(st))
        for name, st in entries:
            yield asyncssh.SFTPName(os.fsencode(name), attrs=asyncssh.SFTPAttrs.from_local(st))

    async def setstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        with self._boundary("setstat", path):
            _check_attrs(attrs, (await self.stat(path)).st_size)

    lsetstat = setstat

    def fsetstat(self, file_obj: object, attrs: asyncssh.SFTPAttrs) -> None:
        with self._boundary("setstat"):
            _check_attrs(attrs, getattr(file_obj, "size", None))

    def fstat(self, file_obj: object) -> os.stat_result:
        assert isinstance(file_obj, mb.Download | mb.Writing)
        return os.fstat(file_obj.fd)

    # files

    async def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        with self._boundary("open", path):
            if not pflags & asyncssh.FXF_WRITE:
                try:
                    return mb.Download(self._place(Op.READ, path)[1])
                except _Virtual as v:
                    await self._profile(v.place)
                    return mb.Download(v.place)
            view, place = self._place(Op.WRITE, path)
            # A temporary name (name.filepart, .part, .tmp, a dot-name) is written in place:
            # appended to and resumed until the client renames it; a final name is new.
            staged = mb.is_ignored_name(place.name)
            if not staged and os.path.lexists(place.host):
                raise mb.FailedError("file exists: each upload must be a new file")
            if not place.host.parent.is_dir():
                raise mb.NotFoundError("no such directory")
            await self._ep.recount(view.company, self._ep.tree(view.company))
            up: mb.Writing
            if staged:
                append, truncate = pflags & asyncssh.FXF_APPEND, pflags & asyncssh.FXF_TRUNC
                up = await asyncio.to_thread(
                    mb.StagedUpload, place, append=bool(append), truncate=bool(truncate)
                )
            else:  # FXF_APPEND to a new file is a plain upload (curl --append)
                up = mb.Upload(place)
            self._uploads.add(up)
            self._upload_company[up] = view.company
            return up

    def open56(self, path: bytes, desired_access: int, flags: int,
               attrs: asyncssh.SFTPAttrs) -> object:  # fmt: skip
        raise asyncssh.SFTPOpUnsupported("SFTP version 3 only")

    async def read(self, file_obj: object, offset: int, size: int) -> bytes:
        if not isinstance(file_obj, mb.Download):
            raise asyncssh.SFTPPermissionDenied("file not opened for reading")
        self._owner.touch()
        place = file_obj.place
        if place.vpath not in self._downloaded and place.parts != (PROFILE_NAME,):
            self._downloaded.add(place.vpath)
            company = self._company_of(place)
            self._owner.audit("download", path=place.vpath, size=file_obj.size, mailbox=company)
            self._ep.downloaded(company, self._username, place, file_obj.size)
        with self._boundary("read", place.vpath):
            return await asyncio.to_thread(file_obj.read_at, offset, min(size, _MAX_READ))

    def _company_of(self, place: Place) -> str:
        for view, tree in self._trees.values():
            if place.host.is_relative_to(tree):
                return view.company
        return ""

    async def write(self, file_obj: object, offset: int, data: bytes) -> int:
        up = self._upload(file_obj)
        company = self._upload_company.get(up, "")
        with self._boundary("write", up.place.vpath):
            self._owner.touch()
            limits = self._ep.config().gateway.limits
            room = limits.company_quota_bytes - self._ep.usage.used(company)
            try:
                growth = up.reserve(offset, len(data), max_bytes=limits.max_upload_bytes, room=room)
                self._ep.usage.add(company, growth)
                if len(data) <= _INLINE_WRITE:
                    # A small pwrite lands in the page cache in microseconds: a thread hop per
                    # SFTP packet would cost more than the write (fsync runs in a thread).
                    up.write_at(offset, data)
                else:
                    await asyncio.to_thread(up.write_at, offset, data)
            except (mb.FailedError, OSError) as exc:
                if up.failure is None:
                    self._owner.audit("upload_refused", path=up.place.vpath, reason=str(exc))
                    await self._discard(up, str(exc))
                raise
            return len(data)

    async def fsync(self, file_obj: object) -> None:
        if isinstance(file_obj, mb.Writing) and not file_obj.done:
            await asyncio.to_thread(os.fsync, file_obj.fd)

    async def close(self, file_obj: object) -> None:
        if isinstance(file_obj, mb.Download):
            file_obj.close()
            return
        up = self._upload(file_obj)
        if self._session.input_ended:  # asyncssh's cleanup after EOF or a drop: never publish
            if up.failure is None:
                self._owner.audit("upload_aborted", path=up.place.vpath, size=up.size)
            await self._discard(up, "connection lost")
            return
        self._uploads.discard(up)
        company = self._upload_company.pop(up, "")
        if up.failure is not None:
            raise asyncssh.SFTPFailure(f"upload failed: {up.failure}")
        with self._boundary("close", up.place.vpath):
            st = os.fstat(up.fd)
            try:
                await asyncio.to_thread(_publish, up, self._username)
            except (mb.FailedError, OSError):
                if not up.keeps_data:
                    self._ep.usage.add(company, -up.size)
                raise
            self._ep.closed(company, up.place.vpath, st)
            self._arrived(company, up.place, up.size)

    # changes

    def remove(self, path: bytes) -> None:
        with self._boundary("delete", path):
            view, place = self._changing(Op.DELETE, path)
            size = os.lstat(place.host).st_size
            if place.host.is_dir():
                raise mb.DeniedError("use rmdir for directories")
            os.unlink(place.host)
            self._ep.usage.add(view.company, -size)
            self._owner.audit("delete", path=place.vpath, size=size, mailbox=view.company)

    def _changing(self, op: Op, path: bytes) -> tuple[View, Place]:
        """``_place`` for an operation that changes something: the virtual root never does."""
        try:
            return self._place(op, path)
        except _Virtual:
            raise mb.DeniedError("only the inboxes accept files") from None

    async def rename(self, oldpath: bytes, newpath: bytes) -> None:
        with self._boundary("rename", oldpath):
            view, old = self._changing(Op.RENAME, oldpath)
            new_view, new = self._changing(Op.WRITE, newpath)
            if old.parent.parts != new.parent.parts or view != new_view:
                raise mb.DeniedError("files can only be renamed within their directory")
            st = os.lstat(old.host)
            if not old.host.is_file():
                raise mb.DeniedError("only files can be renamed")
            await asyncio.to_thread(_rename_as, old.host, new.host, self._username)
            await asyncio.to_thread(files.fsync_dir, new.host.parent)
            self._ep.closed(view.company, new.vpath, st)
            self._owner.audit("rename", path=old.vpath, to=new.vpath)
            self._arrived(view.company, new, st.st_size)

    posix_rename = rename

    def mkdir(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        with self._boundary("mkdir", path):
            _view, place = self._changing(Op.MKDIR, path)
            os.mkdir(place.host, 0o750)
            self._owner.audit("mkdir", path=place.vpath)

    def rmdir(self, path: bytes) -> None:
        with self._boundary("rmdir", path):
            _view, place = self._changing(Op.RMDIR, path)
            os.rmdir(place.host)
            self._owner.audit("rmdir", path=place.vpath)

    def readlink(self, path: bytes) -> bytes:
        raise self._denied("readlink", path.decode("utf-8", "replace"), _NO_LINKS)

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        raise self._denied("symlink", newpath.decode("utf-8", "replace"), _NO_LINKS)

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        raise self._denied("link", newpath.decode("utf-8", "replace"), _NO_LINKS)

    def statvfs(self, path: bytes) -> os.statvfs_result:
        raise asyncssh.SFTPOpUnsupported("statvfs is not supported")

    def fstatvfs(self, file_obj: object) -> os.statvfs_result:
        raise asyncssh.SFTPOpUnsupported("statvfs is not supported")

    async def exit(self) -> None:
        try:
            for up in list(self._uploads):
                await self._discard(up, "session ended")
        finally:
            self._owner.log.info("sftp_session_end")
            self._owner.sftp_ended()


class _Virtual(mb.MailboxError):
    """The path is the virtual root or the profile file, not a place in a mailbox."""

    code = "VIRTUAL_PATH"

    def __init__(self, place: Place) -> None:
        super().__init__(place.vpath)
        self.place = place


def _publish(up: mb.Writing, user: str) -> None:
    """Mark an upload with its user, then publish it (blocking)."""
    if not up.done:
        mb.mark_uploader(up.fd, user)
    up.publish()


def _rename_as(old: Path, new: Path, user: str) -> None:
    """Mark a file with its uploader, then give it its final name (blocking)."""
    mb.mark_uploader(old, user)
    mb.rename_noreplace(old, new)


def _write_if_changed(path: Path, data: bytes) -> None:
    """Write a profile file unless it already holds ``data`` (blocking)."""
    with contextlib.suppress(FileNotFoundError):
        if path.read_bytes() == data:
            return
    files.write_atomic(path, data, mode=0o440)


def _cert_facts(cert: Any) -> CertFacts:
    """What an asyncssh OpenSSH certificate says (its serial, id and validity are private
    attributes of the library; tests/gateway/test_certificates.py holds this reading)."""
    return CertFacts(
        user_cert=cert._cert_type == asyncssh.public_key.CERT_TYPE_USER,
        serial=int(cert._serial),
        key_id=str(cert._key_id),
        principals=tuple(cert.principals),
        valid_after=int(cert._valid_after),
        valid_before=int(cert._valid_before),
        key_blob=cert.key.public_data,
        ca_blob=cert.signing_key.public_data,
    )


# -- the endpoint --------------------------------------------------------------------------


class SftpEndpoint:
    """A listening SFTP endpoint and its connections."""

    def __init__(
        self, get_config: Callable[[], Config], events: MailboxEvents, bans: BanList,
        signing_key: bytes | None, on_download: DownloadHook | None = None,
        get_directory: Callable[[], Directory] | None = None,
        get_trust: Callable[[], Trust] | None = None, clock: Clock = system_clock,
    ) -> None:  # fmt: skip
        self.config = get_config
        self.directory = get_directory or (lambda: file_directory(get_config()))
        self.trust = get_trust or Trust
        self.now = clock
        self.events = events
        self.on_download = on_download
        self.hook_tasks: set[asyncio.Task[Any]] = set()
        self.bans = bans
        self.signing_key = signing_key
        self.usage = mb.UsageBook()
        self.port = 0
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._conns: set[_Connection] = set()
        self._drained = asyncio.Event()
        self._drained.set()
        # (company, path) -> (its stat at close, until when it answers): see JUST_CLOSED_SECONDS
        self._closed: dict[tuple[str, str], tuple[os.stat_result, float]] = {}
        self._waiting: dict[_Connection, str] = {}  # not logged in yet -> peer, oldest first

    def member(self, name: str) -> Member | None:
        """The active user ``name`` as the directory has it now."""
        return self.directory().active(name)

    def tree(self, company: str) -> Path:
        """A company's mailbox tree."""
        return self.config().gateway.mailboxes_dir / company

    def profile_path(self, user: str) -> Path:
        """Where a user's profile file is written before it is read."""
        folder = self.config().gateway.data_dir / "profiles"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{user}.json"

    def users_changed(self) -> int:
        """Close the sessions of users no longer active (suspended, removed); the others get
        their new rights at their next request.  How many sessions were closed."""
        closed = 0
        for conn in list(self._conns):
            if conn.user is not None and not conn.lost and self.member(conn.user.name) is None:
                conn.audit("session_closed", reason="the user was suspended or removed")
                conn.close()
                closed += 1
        return closed

    def closed(self, company: str, vpath: str, st: os.stat_result) -> None:
        """Remember an upload just closed (or renamed to its final name)."""
        now = time.monotonic()
        if len(self._closed) > 10_000:
            self._closed = {k: v for k, v in self._closed.items() if v[1] > now}
        self._closed[(company, vpath)] = (st, now + JUST_CLOSED_SECONDS)

    def just_closed(self, company: str, vpath: str) -> os.stat_result | None:
        """The stat of an upload of ``company`` closed at ``vpath`` in the last
        ``JUST_CLOSED_SECONDS``, which intake may already have taken from the inbox."""
        found = self._closed.get((company, vpath))
        return found[0] if found is not None and found[1] > time.monotonic() else None

    def not_logged_in(self, conn: _Connection) -> None:
        """Count ``conn`` among the connections not logged in yet."""
        self._waiting[conn] = conn.peer

    def authenticated_or_gone(self, conn: _Connection) -> None:
        """``conn`` logged in or ended: it no longer counts as waiting."""
        self._waiting.pop(conn, None)

    def unauthenticated_count(self) -> int:
        """Connections not logged in yet, from every address."""
        return len(self._waiting)

    def unauthenticated_from(self, peer: str) -> int:
        """Connections not logged in yet from ``peer``."""
        return sum(1 for p in self._waiting.values() if p == peer)

    def oldest_unauthenticated(self) -> _Connection | None:
        """The connection waiting longest to log in (dropped first under a flood)."""
        return next(iter(self._waiting), None)

    def logged_in(self) -> int:
        """Connections that are logged in."""
        return sum(1 for c in self._conns if c.user is not None and not c.lost)

    @property
    def connections(self) -> int:
        """Open client connections."""
        return len(self._conns)

    def register(self, conn: _Connection) -> None:
        """A connection was accepted."""
        self._conns.add(conn)
        self._drained.clear()

    def unregister(self, conn: _Connection) -> None:
        """A connection ended."""
        self._conns.discard(conn)
        if not self._conns:
            self._drained.set()

    def downloaded(self, company: str, user: str, place: Place, size: int) -> None:
        """Tell ``on_download`` (in a task) that a session began reading an outbox file."""
        if self.on_download is None or place.box != files.OUTBOX:
            return
        task = asyncio.get_running_loop().create_task(
            self.on_download(company, user, place.vpath, size)
        )
        self.hook_tasks.add(task)
        task.add_done_callback(self._hook_done)

    def _hook_done(self, task: asyncio.Task[Any]) -> None:
        self.hook_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error("download_hook_failed", error=str(task.exception()))

    async def recount(self, company: str, tree: Path) -> None:
        """Recount a company's usage from disk when the running total is stale."""
        if self.usage.stale(company):
            self.usage.counted(company, await asyncio.to_thread(mb.tree_usage, tree))

    def stop_accepting(self) -> None:
        """Stop listening; connections in progress continue."""
        if self._acceptor is not None:
            self._acceptor.close()

    def close(self) -> None:
        """Stop listening and close every connection (open uploads are discarded)."""
        self.stop_accepting()
        for conn in list(self._conns):
            conn.close()

    async def wait_closed(self) -> None:
        """Wait until the listener and every connection are closed."""
        if self._acceptor is not None:
            await self._acceptor.wait_closed()
        await self._drained.wait()


async def start_sftp_server(
    get_config: Callable[[], Config],
    events: MailboxEvents,
    *,
    host: str,
    port: int,
    server_host_keys: list[Path],
    gateway_public_key: bytes | None = None,
    bans: BanList | None = None,
    on_download: DownloadHook | None = None,
    get_directory: Callable[[], Directory] | None = None,
    get_trust: Callable[[], Trust] | None = None,
    clock: Clock = system_clock,
) -> SftpEndpoint:
    """Prepare every configured mailbox and listen for SFTP clients (``port`` 0: any free);
    ``on_download(company, user, path, size)`` is awaited (in a task) when a session first
    reads a file."""
    cfg = get_config()
    endpoint = SftpEndpoint(
        get_config, events, bans or BanList(), gateway_public_key, on_download,
        get_directory, get_trust, clock,
    )  # fmt: skip
    root = cfg.gateway.mailboxes_dir
    for company in cfg.companies:
        tree = await asyncio.to_thread(mb.prepare_mailbox, root, company, gateway_public_key)
        await endpoint.recount(company, tree)
    endpoint._acceptor = await asyncssh.create_server(
        lambda: _Connection(endpoint), host, port,
        server_host_keys=[str(p) for p in server_host_keys],
        login_timeout=cfg.gateway.login_grace_seconds,
        keepalive_interval=60, keepalive_count_max=3,
        agent_forwarding=False, x11_forwarding=False, allow_scp=False, line_editor=False,
    )  # fmt: skip
    endpoint.port = endpoint._acceptor.get_port()
    _log.info("sftp_listening", host=host, port=endpoint.port)
    return endpoint
