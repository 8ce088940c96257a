"""amyplant-security: a self-hosted, face-aware security camera system."""

__version__ = "0.1.0"
