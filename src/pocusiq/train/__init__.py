"""pocusiq.train."""
