"""Keep secrets out of what interstate prints and logs: passwords in URLs' userinfo, and the
values of key- and token-like query parameters (``?key=``, ``api_key``, ``access_token``, …).

``redact`` works on any text (a URL, an error message, a log line); ``RedactFilter`` applies it
to log records (the server's access log). See docs/security.md.
"""

from __future__ import annotations

import logging
import re

__all__ = ["MASK", "RedactFilter", "redact"]

#: What a secret is replaced with.
MASK = "***"

# scheme://user:password@host — the password (up to the last "@" before the host part).
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^\s/?#@:]*):[^\s/?#]*@")
# key=value in a query string (or any "?"/"&"-separated text): the value of a secret-like name.
_QUERY = re.compile(
    r"(?P<head>[?&;](?:[\w.\-]*(?:key|token|secret|password|passwd|pwd|signature|sig|auth)"
    r"[\w.\-]*)=)(?P<value>[^&#\s\"']*)",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` with URL passwords and secret-like query values replaced by ``***``."""
    if "://" not in text and "=" not in text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", text)
    return _QUERY.sub(lambda m: m["head"] + (MASK if m["value"] else ""), text)


class RedactFilter(logging.Filter):
    """Redacts a record's message and string arguments (uvicorn's access log passes the path
    with its query string as an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True
