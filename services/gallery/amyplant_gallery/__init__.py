"""The gallery service."""
