"""pocusiq.pair."""
