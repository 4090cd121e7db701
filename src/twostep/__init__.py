"""twostep: a self-hosted two-step verification service."""

__version__ = "0.1.0"
