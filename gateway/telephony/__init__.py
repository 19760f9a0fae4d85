"""citygw telephony."""
