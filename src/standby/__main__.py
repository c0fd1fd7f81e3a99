"""``python -m standby``: the same as the ``standby`` command."""

import sys

from standby.cli import main

if __name__ == "__main__":
    sys.exit(main())
