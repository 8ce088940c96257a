"""Tests of amyplant-security."""
