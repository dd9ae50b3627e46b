"""``python -m loyalty``: the command line (see :mod:`loyalty.cli`)."""

from loyalty.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
