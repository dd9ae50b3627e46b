"""``python -m ingest [--full-refresh]``: load MySQL ``transactions`` into the lake only."""

import sys

from loyalty.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["ingest", *sys.argv[1:]]))
