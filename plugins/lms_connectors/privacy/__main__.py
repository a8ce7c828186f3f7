"""``python -m lms_connectors.privacy``: the admin's privacy commands (erase, export, rotate-key)."""

from lms_connectors.privacy.commands import main

raise SystemExit(main())
