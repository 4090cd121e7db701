"""What every feature stands on: the context, sessions, accounts, remembered devices, audit, notices,
throttling and rate limits, secret keys, purging, health and numbers for operators."""
