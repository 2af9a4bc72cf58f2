"""GitLab Generic Packages API gateway over S3 or the local filesystem."""

__version__ = "0.1.0"
