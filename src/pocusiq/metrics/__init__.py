"""pocusiq.metrics."""
