import sys

from standby.demo import main

raise SystemExit(main(sys.argv[1:]))
