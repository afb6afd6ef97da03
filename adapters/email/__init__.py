"""E-mail as an outbox platform (``mailto``): digests reach addresses through ``[smtp]``."""

from .adapter import PLATFORM, EmailAdapter, EmailAdapterFactory, smtp_error

__all__ = ["PLATFORM", "EmailAdapter", "EmailAdapterFactory", "smtp_error"]
