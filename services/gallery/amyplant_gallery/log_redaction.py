"""Keeps secrets sent in URLs out of the access log: query values of api_key, key, token, ... are hidden.

The gallery never accepts a key in a URL, but a client may still send one (`?api_key=...`); uvicorn's
access log would then write it down, where it outlives the request and reaches whoever reads the logs.
"""

from __future__ import annotations

import logging
import re

ACCESS_LOGGER = "uvicorn.access"
REDACTED = "[redacted]"
SECRET_PARAMETER = re.compile(
    r"([?&;](?:api[_-]?key|key|access[_-]?token|token|secret|password|auth)=)[^&;#\s\"]*", re.IGNORECASE
)


def redact(text: str) -> str:
    return SECRET_PARAMETER.sub(rf"\g<1>{REDACTED}", text)


class RedactSecretsFilter(logging.Filter):
    """Rewrites a record's arguments (uvicorn passes the path with its query as one) and message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install_access_log_redaction() -> None:
    """Filter uvicorn's access logger, once; call after uvicorn configured its logging."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(existing, RedactSecretsFilter) for existing in logger.filters):
        logger.addFilter(RedactSecretsFilter())
