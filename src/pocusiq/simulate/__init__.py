"""pocusiq.simulate."""
