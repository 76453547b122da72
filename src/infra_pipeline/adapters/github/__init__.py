"""GitHub: `transport` (retries, rate limits, request counting, errors) under `client` (one
method per endpoint, typed records)."""
