"""mlci: a Jenkins-centred CI/CD kit for machine learning."""

__version__ = "0.1.0"
