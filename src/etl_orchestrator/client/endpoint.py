"""Where the client sends requests and with which key.

The API URL: ``--api``, else ``ETL_API_URL``, else the ``api`` of the dev stack's keys file, else
``http://127.0.0.1:8004``. The key: ``--key``; else, with ``--admin`` (the default of ``onboard``),
the admin key of the keys file that ``etl-orchestrator dev`` writes (``<dev.data_dir>/dev-keys.json``);
else ``ETL_API_KEY``; else the keys file's first organization key.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_API = "http://127.0.0.1:8004"
KEYS_FILE = "dev-keys.json"


class ClientConfigError(Exception):
    """No key could be found, or the keys file is unreadable."""


@dataclass(frozen=True)
class Endpoint:
    api_url: str
    key: str


def _dev_keys(data_dir: str) -> dict[str, Any]:
    path = Path(data_dir) / KEYS_FILE
    if not path.exists():
        return {}
    try:
        keys = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ClientConfigError(f"cannot read {path}: {exc}") from exc
    return keys if isinstance(keys, dict) else {}


def resolve(*, api: str | None, key: str | None, admin: bool, data_dir: str,
            environ: dict[str, str] | None = None) -> Endpoint:
    environ = dict(os.environ if environ is None else environ)
    dev_keys = _dev_keys(data_dir)
    api_url = api or environ.get("ETL_API_URL") or dev_keys.get("api") or DEFAULT_API
    if not key and admin:
        key = dev_keys.get("admin_key")
    if not key:
        key = environ.get("ETL_API_KEY") or next(iter((dev_keys.get("org_keys") or {}).values()), None)
    if not key:
        which = "an admin key" if admin else "an API key"
        raise ClientConfigError(f"no {which}: pass --key, set ETL_API_KEY, or start `etl-orchestrator dev` "
                                f"(it writes {Path(data_dir) / KEYS_FILE})")
    return Endpoint(api_url=api_url.rstrip("/"), key=key)
