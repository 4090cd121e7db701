"""Running an instance: the secret key's start-up self-test and rotation, purging what has expired,
readiness, and the numbers /metrics shows."""
