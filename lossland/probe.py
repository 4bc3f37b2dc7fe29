"""`python -m lossland.probe`: the old name of `python -m lossland.probes`, still accepted."""

from lossland.probes.__main__ import main

if __name__ == "__main__":
    main()
