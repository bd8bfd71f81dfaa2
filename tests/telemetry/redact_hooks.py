"""A redaction hook used by the tests (``telemetry.redact: tests.telemetry.redact_hooks:mask_emails``)."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


def mask_emails(text: str) -> str:
    return _EMAIL.sub("<email>", text)
