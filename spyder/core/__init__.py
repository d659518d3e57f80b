"""Spyder's master-side machinery and the protocol shared by all processes."""
