"""pocusiq.models."""
