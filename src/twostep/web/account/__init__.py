"""/account: methods, remembered devices, sessions, recovery codes, password, and the re-authentication
before changes."""
