"""``python -m lms_connectors.runtime.stack``: the embedded stack's command under its first name.

The dev stack moved to ``devstack.stack`` when the product and its dev tooling
were separated; notes and scripts written before still call this name, so it
forwards there. It works from a checkout only (the image ships no devstack
and no alias: see ``.dockerignore``).
"""

from __future__ import annotations

import sys

from devstack.stack import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
