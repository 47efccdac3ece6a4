"""ct stage."""
