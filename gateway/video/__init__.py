"""citygw video."""
