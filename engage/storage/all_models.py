"""Import every table module so ``SQLModel.metadata`` is complete.

Alembic's env.py, ``create_schema`` and the migration/model agreement test import this one
module. Core tables live in ``models.py``; other features add ``engage/storage/<name>_models.py``
and are picked up here automatically (no edit needed).
"""

from __future__ import annotations

import importlib
import pkgutil

import engage.storage as _storage_pkg
from engage.storage import models as models

LOADED: list[str] = ["engage.storage.models"]

for _info in sorted(pkgutil.iter_modules(_storage_pkg.__path__), key=lambda i: i.name):
    if _info.name.endswith("_models") and _info.name != "all_models":
        _name = f"{_storage_pkg.__name__}.{_info.name}"
        importlib.import_module(_name)
        LOADED.append(_name)
