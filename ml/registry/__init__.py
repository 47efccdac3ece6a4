"""registry stage."""
