"""jenkins stage."""
