"""Enrollment pages for methods we send codes to (a separate email address, a phone), the password reset
pages that share them, and the setup instructions PDF."""
