"""Tests of the capture service."""
