"""Trainer unit tests."""
