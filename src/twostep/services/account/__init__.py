"""My account: what it shows, the changes a user makes there, and the re-authentication every change needs."""
