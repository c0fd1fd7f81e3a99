"""crypt(3) of the system's C library, through ctypes: the bcrypt, SHA-crypt, MD5-crypt
and DES hashes that ``htpasswd`` and ``openssl passwd`` write. Python's ``crypt`` module,
which called the same function, is deprecated and gone in Python 3.13; this works on every
Python standby runs on.

The library is loaded when this module is imported, which happens at configuration load,
before a ``RootJail`` chroot would make it unreachable.
"""

from __future__ import annotations

import ctypes
from typing import Final

# libxcrypt's (Debian, Fedora...) names first, then the development link.
SONAMES: Final = ("libcrypt.so.1", "libcrypt.so.2", "libcrypt.so")
# libxcrypt's struct crypt_data is 32768 bytes. crypt_rn is told the size, so it refuses a
# buffer that is too small instead of writing past it.
CRYPT_DATA_SIZE: Final = 32768
# crypt_r (a C library without libxcrypt's crypt_rn) is not told the size: glibc's own
# struct crypt_data is 131232 bytes, so give it room to spare.
CRYPT_R_DATA_SIZE: Final = 256 * 1024


def _load() -> ctypes.CDLL | None:
    for name in SONAMES:
        try:
            return ctypes.CDLL(name, use_errno=True)
        except OSError:
            continue
    return None


_LIB: Final = _load()
# The reentrant forms only: they write into the buffer given, never a static one.
_SIZED: Final = _LIB is not None and hasattr(_LIB, "crypt_rn")
if _SIZED:
    assert _LIB is not None
    _LIB.crypt_rn.restype = ctypes.c_char_p
    _LIB.crypt_rn.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int)
elif _LIB is not None and hasattr(_LIB, "crypt_r"):  # pragma: no cover - glibc's own libcrypt
    _LIB.crypt_r.restype = ctypes.c_char_p
    _LIB.crypt_r.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p)

AVAILABLE: Final = _SIZED or (_LIB is not None and hasattr(_LIB, "crypt_r"))


def crypt(password: bytes, setting: str) -> str | None:
    """The hash of ``password`` with the scheme and salt of ``setting`` (a whole hash
    will do), or None when there is no C library or it refuses them (an unknown scheme,
    a bad salt, a password holding a NUL byte)."""
    if not AVAILABLE or _LIB is None or b"\0" in password or "\0" in setting:
        return None
    salt = setting.encode("latin-1", "replace")
    if _SIZED:
        data = ctypes.create_string_buffer(CRYPT_DATA_SIZE)
        result = _LIB.crypt_rn(password, salt, data, CRYPT_DATA_SIZE)
    else:  # pragma: no cover - glibc's own libcrypt
        data = ctypes.create_string_buffer(CRYPT_R_DATA_SIZE)
        result = _LIB.crypt_r(password, salt, data)
    # libxcrypt signals failure by NULL or by a "failure token" starting with '*'.
    if not result or result.startswith(b"*"):
        return None
    return str(result.decode("latin-1"))
