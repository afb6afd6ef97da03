"""The web chat: the same guided conversation in a browser (``GET /c/SLUG``)."""

from .adapter import WebAdapter, WebAdapterFactory

__all__ = ["WebAdapter", "WebAdapterFactory"]
