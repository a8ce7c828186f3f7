"""Make a hashed lock installable by pip as well as uv: ``python -m devstack.lockfile LOCK...``.

pip's ``--require-hashes`` wants every requirement it meets pinned in the form it meets it: a
package some dependency asks for with extras (``celery[redis]``) and another without
(``uvicorn``), each pinned. ``uv pip compile --no-strip-extras`` writes one entry a package, with
the extras: this adds, after them, the same pin and hashes without the extras.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

MARK = "# The same pins without their extras, for pip's --require-hashes (devstack/lockfile.py):\n"
_WITH_EXTRAS = re.compile(r"^([A-Za-z0-9_.-]+)\[[^\]]*\](==\S+)((?: \\\n\s+--hash=sha256:[0-9a-f]{64})+)", re.M)


def with_plain_pins(text: str) -> str:
    text = text.split(MARK)[0].rstrip("\n") + "\n"
    plain = [f"{name}{pin}{hashes}\n" for name, pin, hashes in _WITH_EXTRAS.findall(text)]
    return text + (MARK + "".join(plain) if plain else "")


def main(argv: list[str]) -> int:
    for name in argv:
        path = Path(name)
        path.write_text(with_plain_pins(path.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
