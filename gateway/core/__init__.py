"""citygw core."""
