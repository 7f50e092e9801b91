"""Wire tests: round trips against botocore, the model pin, validation and routing."""
