"""One object per process for what libextism and the OS hold once per process (the log sink,
the SIGINT wakeup fd)."""

from __future__ import annotations

import threading

_CREATE = threading.RLock()  # creation is rare; re-entrant in case one creation needs another


class ProcessWide:
    """Mixin: ``Cls.get()`` is the class's one instance, made on first use (thread-safe)."""

    @classmethod
    def get(cls):
        instance = cls.__dict__.get("_instance")
        if instance is None:
            with _CREATE:
                instance = cls.__dict__.get("_instance")
                if instance is None:
                    instance = cls()
                    cls._instance = instance
        return instance
