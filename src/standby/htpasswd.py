"""``BasicAuth`` user databases: htpasswd files and the password hashes in them (pure).

A file holds ``user:hash`` lines (blank lines and ``#`` comments ignored). Every hash
``htpasswd`` writes is understood: bcrypt (``$2y$``, ``$2a$``, ``$2b$``), Apache's MD5
(``$apr1$``), ``{SHA}`` (base64 of SHA-1), and the system's crypt(3) (``$1$``, ``$5$``,
``$6$``, DES); as in Pound, a hash that none of these accepts is compared as a plain-text
password. apr1 and {SHA} are computed here; bcrypt and crypt(3) by the C library
(``standby.syscrypt``; on a system without one those hashes never match, and a warning is
logged at load).

Checking a bcrypt hash costs milliseconds by design: the outcome of the latest checks is
kept (by a digest of user, password and hash, never the password) so that a client
sending the same credentials on every request pays it once.

The table is replaced, never edited, when the shell (server/watch.py) sees the file change.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from standby import syscrypt

HAVE_CRYPT = syscrypt.AVAILABLE
# How many credential checks are remembered (each a 32-byte digest and a bool).
MAX_REMEMBERED = 1024
# The longest line taken as a user entry (htpasswd lines are well under this).
MAX_LINE = 4096
_APR1 = "$apr1$"
_SHA = "{SHA}"
_ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class HtpasswdError(ValueError):
    """A malformed file: ``line`` (1-based) says where."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def parse_htpasswd(text: str) -> dict[bytes, str]:
    """The users of an htpasswd file and their hashes. HtpasswdError for a line that is
    not ``user:hash``."""
    users: dict[bytes, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if len(line) > MAX_LINE:
            raise HtpasswdError(number, f"line too long (over {MAX_LINE} characters)")
        user, colon, hashed = line.partition(":")
        if not colon or not user or not hashed:
            raise HtpasswdError(number, "expected user:password-hash")
        users[user.encode("latin-1", "replace")] = hashed
    return users


def _to64(value: int, count: int) -> str:
    out = []
    for _ in range(count):
        out.append(_ITOA64[value & 0x3F])
        value >>= 6
    return "".join(out)


def apr1(password: bytes, salt: bytes) -> str:
    """Apache's MD5-based hash (``$apr1$salt$...``), the MD5-crypt algorithm."""
    salt = salt[:8]
    magic = _APR1.encode()
    alternate = hashlib.md5(password + salt + password).digest()
    ctx = hashlib.md5(password + magic + salt)
    length = len(password)
    while length > 0:
        ctx.update(alternate[: min(16, length)])
        length -= 16
    length = len(password)
    while length:
        ctx.update(b"\0" if length & 1 else password[:1])
        length >>= 1
    final = ctx.digest()
    for i in range(1000):
        step = hashlib.md5()
        step.update(password if i & 1 else final)
        if i % 3:
            step.update(salt)
        if i % 7:
            step.update(password)
        step.update(final if i & 1 else password)
        final = step.digest()
    text = ""
    for a, b, c in ((0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)):
        text += _to64((final[a] << 16) | (final[b] << 8) | final[c], 4)
    text += _to64(final[11], 2)
    return f"{_APR1}{salt.decode('latin-1')}${text}"


def check_password(password: bytes, hashed: str) -> bool:
    """Whether ``password`` matches ``hashed`` (any htpasswd scheme, else plain text)."""
    if hashed.startswith(_APR1):
        salt = hashed[len(_APR1) :].split("$", 1)[0].encode("latin-1")
        return hmac.compare_digest(apr1(password, salt), hashed)
    if hashed.startswith(_SHA):
        digest = base64.b64encode(hashlib.sha1(password).digest()).decode()
        return hmac.compare_digest(digest, hashed[len(_SHA) :])
    if hashed.startswith("$") or len(hashed) == 13:
        computed = syscrypt.crypt(password, hashed)
        if computed is not None and hmac.compare_digest(computed, hashed):
            return True
    return hmac.compare_digest(password, hashed.encode("latin-1", "replace"))


class UserTable:
    """One ``BasicAuth`` file's users (model.UserDb). Equal when they name the same file
    with the same users (a reload that changes nothing keeps the specs equal)."""

    __slots__ = ("_remembered", "path", "users", "watch")

    def __init__(self, path: str, users: dict[bytes, str], watch: bool = True) -> None:
        self.path = path
        self.users = users
        self.watch = watch  # re-read when the file changes (not with `-file`)
        self._remembered: dict[bytes, bool] = {}

    def replace(self, users: dict[bytes, str]) -> None:
        """The file changed: these are its users now."""
        self.users = users
        self._remembered = {}

    def verify(self, user: bytes, password: bytes) -> bool:
        hashed = self.users.get(user)
        if hashed is None:
            return False
        key = hashlib.sha256(b"%d:%b:%b:%b" % (len(user), user, password, hashed.encode())).digest()
        known = self._remembered.get(key)
        if known is not None:
            return known
        verdict = check_password(password, hashed)
        if len(self._remembered) >= MAX_REMEMBERED:
            self._remembered.clear()
        self._remembered[key] = verdict
        return verdict

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, UserTable):
            return NotImplemented
        return self.path == other.path and self.users == other.users

    def __hash__(self) -> int:
        return hash(self.path)

    def __repr__(self) -> str:
        return f"UserTable({self.path!r}, {len(self.users)} users)"


def basic_credentials(header: bytes | None) -> tuple[bytes, bytes] | None:
    """(user, password) from an ``Authorization: Basic ...`` value; None otherwise."""
    if header is None:
        return None
    scheme, _, token = header.strip().partition(b" ")
    if scheme.lower() != b"basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except ValueError:
        return None
    user, colon, password = decoded.partition(b":")
    if not colon:
        return None
    return user, password
