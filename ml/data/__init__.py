"""Datasets: snapshot generation, loading, versions and digests."""
