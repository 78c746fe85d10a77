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
MAX_LONG_WAIT_SECONDS = 12 * 3600
"""The longest wait beyond the hour: CloudFormation's WaitCondition times out after 12 hours at
most. A resource whose ``WaitTimeoutSeconds`` is above ``MAX_WAIT_TIMEOUT_SECONDS`` waits this way
(``long_wait``): the custom resource completes once the resource exists, and a WaitCondition waits
for the rest."""
LONG_WAIT_STATE_MACHINE_ENV = "CLEANROOMS_ML_LONG_WAIT_STATE_MACHINE_ARN"
"""Not a limit, but shared the same way: the environment variable that names the stack's long-wait
state machine to the handler (the construct sets it)."""
LONG_WAIT_FIRST_CHECK_SECONDS = 30
LONG_WAIT_CHECK_SECONDS = 300
"""A long wait checks after 30 s, then twice as long each time, then every 5 minutes."""
LONG_WAIT_MARGIN_SECONDS = 30
"""A long wait gives up (and says why) this long before its WaitCondition times out."""
JOBS_IN_PROGRESS_QUOTA = 10
"""Clean Rooms ML runs at most 10 audience generation jobs per account and Region at once (pending
or in progress); a stack starts its jobs in that many lanes (see the construct's provider)."""
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
