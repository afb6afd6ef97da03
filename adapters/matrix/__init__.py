"""Matrix adapter: matrix-nio with end-to-end encryption (see README.md for the trust policy)."""

from .adapter import MatrixAdapter, MatrixAdapterFactory

__all__ = ["MatrixAdapter", "MatrixAdapterFactory"]
