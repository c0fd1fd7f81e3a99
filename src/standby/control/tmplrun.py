"""``tmplrun FILE JSON...``: run the top-level text of a poundctl template file on each JSON
value in turn, printing each result. Pound's testsuite checks its template language with a
program of this name (its group "Template"); this one runs standbyctl's engine
(control/template.py), so that the same checks apply to it. Exit status 1 on any error."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from standby.control import template

PROG = "tmplrun"
EXIT_OK = 0
EXIT_FAILURE = 1


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print(f"usage: {PROG} FILE [JSON...]", file=sys.stderr)
        return EXIT_FAILURE
    path = args[0]
    try:
        with open(path, encoding="utf-8") as src:
            templates = template.parse(src.read(), path)
        for text in args[1:]:
            sys.stdout.write(template.execute(templates, path, json.loads(text)))
    except OSError as exc:
        print(f"{PROG}: {path}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILURE
    except ValueError as exc:  # bad JSON
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except template.TemplateError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
