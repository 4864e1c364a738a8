"""Kassa: a self-hosted payments and billing server."""

__version__ = "0.1.0"
