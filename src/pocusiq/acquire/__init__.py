"""pocusiq.acquire."""
