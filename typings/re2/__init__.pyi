# The part of google-re2's API that standby uses (src/standby/config/pattern.py); the
# package ships no type information.

from re2 import _re2 as _re2

class Options(_re2.RE2.Options): ...

error = _re2.Error
