"""Asterisk adapter: FastAGI over pyst2's command set (the only code that imports pyst2)."""
