"""pocusiq.benchmark."""
