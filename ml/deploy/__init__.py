"""Deployment: pinned model images into Docker environments behind a stable front, with rollback."""
