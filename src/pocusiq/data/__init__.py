"""pocusiq.data."""
