"""Moved to ml.registry.serialization (the registry loads models; train only saves them)."""

from ml.registry.serialization import TRUSTED_TYPES, load_pipeline, trusted_types, untrusted_error

__all__ = ["TRUSTED_TYPES", "load_pipeline", "trusted_types", "untrusted_error"]
