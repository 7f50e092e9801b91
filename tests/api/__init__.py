"""API tests: real boto3 (and AWS CLI) clients against a live server."""
