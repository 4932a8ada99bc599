"""Errors an operator or a caller can act on; the CLI prints them as one line, exit 1."""


class EngageError(Exception):
    """Base class: the message is complete and safe to show (no PII)."""


class UserError(EngageError):
    """Bad input from an operator (file, place and problem in the message)."""


class RetryableError(EngageError):
    """A transient failure (database locked or down): the provider should retry delivery."""
