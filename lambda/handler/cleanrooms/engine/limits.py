"""Every limit the handler and the construct library share: defined once, here.

The construct library reads this module at synth (``cdk_cleanrooms_ml.validation``), so a limit
checked at synth and in the handler cannot drift.
"""

from __future__ import annotations

QUERY_INTERVAL_SECONDS = 30
"""How often the Provider framework's waiter polls ``is_complete``."""
TOTAL_TIMEOUT_SECONDS = 55 * 60
"""The Provider framework's total timeout: it gives up on a request after 55 minutes."""
SERVICE_TIMEOUT_SECONDS = 3600
"""CloudFormation's default and maximum ServiceTimeout for one custom resource operation."""

DEFAULT_WAIT_TIMEOUT_SECONDS = 3000
MAX_WAIT_TIMEOUT_SECONDS = TOTAL_TIMEOUT_SECONDS - 2 * QUERY_INTERVAL_SECONDS
"""The handler must fail (naming what it made) before the framework gives up: 3240 s."""
DELETE_TIMEOUT_SECONDS = MAX_WAIT_TIMEOUT_SECONDS
"""How long a Delete (and a waiter's removal of what no request awaits) may wait for the service,
whatever ``WaitTimeoutSeconds`` says: a job may take minutes to leave CREATE_PENDING."""
SETTLE_GRACE_SECONDS = 30.0
"""After its deadline a Delete may settle this long; the framework's own limit is a minute off."""

MAX_TAGS = 50
"""Clean Rooms ML allows 50 tags per resource; the handler's ownership tag counts too."""
MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 256

MAX_REASON_BYTES = 1000
"""Bytes of a failure's reason once JSON-escaped: CloudFormation takes 4096 for the whole response,
and the framework adds its own lines, the ids and Data."""

MAX_NAME_LENGTH = 63
"""Generated names are at most this long (every kind's name pattern allows it)."""
