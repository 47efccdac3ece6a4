"""Continuous training: decide from new data, performance and drift whether to retrain."""
