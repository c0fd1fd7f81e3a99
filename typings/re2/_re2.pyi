# google-re2's pybind11 module, as far as standby uses it.
import enum

class Error(Exception): ...

class RE2:
    class Anchor(enum.Enum):
        UNANCHORED = 0
        ANCHOR_START = 1
        ANCHOR_BOTH = 2

    class Options:
        class Encoding(enum.Enum):
            UTF8 = 1
            LATIN1 = 2

        encoding: RE2.Options.Encoding
        never_capture: bool
        longest_match: bool
        log_errors: bool
        case_sensitive: bool
        dot_nl: bool
        max_mem: int

    def __init__(self, pattern: bytes, options: RE2.Options, /) -> None: ...
    def ok(self) -> bool: ...
    def error(self) -> bytes: ...
    def Match(
        self, anchor: RE2.Anchor, text: bytes, pos: int, endpos: int, /
    ) -> list[tuple[int, int]]: ...
