"""Servers the system starts itself when no external URL is configured."""
