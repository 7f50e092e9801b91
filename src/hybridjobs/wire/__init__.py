"""The wire: parse, validate and serialize AWS requests, driven by botocore's models."""
