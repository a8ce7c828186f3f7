"""Local simulators of the providers' APIs: one module and one written contract per provider (``<name>.py``, ``<name>.yaml``), over one seeded world."""
