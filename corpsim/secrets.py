"""The one scrubber for anything printed or stored: error strings and settings.

Every path that prints an error, stores it (``episodes.error``, judge and monitor
records) or stores settings goes through here, so a provider that echoes a key in its
error text cannot leak it into a log, a terminal or the results database.
"""

from __future__ import annotations

import os
import re
from typing import Any

HIDDEN = "<hidden>"
# environment variables whose values are credentials (OPENAI_API_KEY, HF_TOKEN, ...)
_SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$", re.IGNORECASE)
# setting names that may hold a credential: api_key, aws_secret_access_key, password,
# authorization, headers, access_token, token... but not max_tokens or prompt_tokens
_SECRET_SETTING = re.compile(r"(key|secret|password|passwd|credential|authorization|header"
                             r"|cookie)|(^|_)token$", re.IGNORECASE)
# key-shaped strings providers echo back even when the value is not in our environment
_KEY_SHAPES = re.compile(
    r"\b(sk-[A-Za-z0-9_\-]{12,}|sk-ant-[A-Za-z0-9_\-]{12,}|AIza[0-9A-Za-z_\-]{20,}"
    r"|hf_[A-Za-z0-9]{20,}|gsk_[A-Za-z0-9]{20,}|xai-[A-Za-z0-9]{20,})"
    r"|((?i:bearer)\s+)[A-Za-z0-9._\-]{12,}")
# credentials inside a URL (an api_base or database URL in a connection error)
_URL_CREDENTIALS = re.compile(r"\b([A-Za-z][A-Za-z0-9+.\-]*://)[^\s/@]+@")


def is_secret_setting(name: str) -> bool:
    """Whether a setting with this name may hold a credential."""
    return bool(_SECRET_SETTING.search(str(name)))


_NAME_IS_SECRET: dict[Any, bool] = {}  # environment variable name -> credential?


def _secret_values() -> list[str]:
    """The current values (8+ characters) of credential environment variables. Reads
    the raw environment and tests each name once per process: a sweep scrubs every
    stored error, and decoding the whole environment each time costs more than the
    episode's own bookkeeping."""
    data = getattr(os.environ, "_data", None)
    items: Any = data.items() if isinstance(data, dict) else os.environ.items()
    out = []
    for name, value in items:
        hit = _NAME_IS_SECRET.get(name)
        if hit is None:
            shown = os.fsdecode(name) if isinstance(name, bytes) else str(name)
            hit = _NAME_IS_SECRET[name] = bool(_SECRET_ENV.search(shown))
        if hit and len(value) >= 8:
            out.append(os.fsdecode(value) if isinstance(value, bytes) else value)
    return out


def scrub_text(text: Any) -> str:
    """``text`` as a string with credential values and key-shaped tokens replaced."""
    s = text if isinstance(text, str) else str(text)
    for value in _secret_values():
        if value in s:
            s = s.replace(value, HIDDEN)
    s = _URL_CREDENTIALS.sub(lambda m: m.group(1) + HIDDEN + "@", s)
    return _KEY_SHAPES.sub(lambda m: (m.group(2) or "") + HIDDEN, s)


def scrub_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings without anything that looks like a credential (nested dicts too)."""
    out: dict[str, Any] = {}
    for k, v in settings.items():
        if is_secret_setting(k):
            continue
        out[k] = scrub_settings(v) if isinstance(v, dict) else v
    return out
