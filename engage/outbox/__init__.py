"""The outbox: rows queued to go to residents, and the dispatcher that sends them.

Where things are handled: ``queue`` (the statements: claim, lease, record), ``claiming``
(which due rows a worker takes, cancels or holds), ``pacing`` (rate limits, quiet hours),
``sending`` (one claim on its way out), ``in_doubt`` (rows that may have been sent),
``retries`` (backoff, retry windows, stale replies, channel pause), ``recording`` (outcomes),
``provider_opt_out`` (what a provider's "unsubscribed" answer is handed to), ``dispatcher``
(the worker loop that runs them).
"""

from engage.outbox.dispatcher import Dispatcher
from engage.outbox.pacing import TELEGRAM_RATE, TokenBucket
from engage.outbox.provider_opt_out import ProviderOptOut
from engage.outbox.retries import STALE_REPLY, backoff_seconds

__all__ = ["STALE_REPLY", "TELEGRAM_RATE", "Dispatcher", "ProviderOptOut", "TokenBucket",
           "backoff_seconds"]
