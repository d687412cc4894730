"""Compatibility name: the config-file reader now lives in :mod:`pocusiq.config` (the one config
toolkit); import it from there."""

from pocusiq.config import read_config_file

__all__ = ["read_config_file"]
