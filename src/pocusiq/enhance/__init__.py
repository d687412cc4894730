"""pocusiq.enhance."""
