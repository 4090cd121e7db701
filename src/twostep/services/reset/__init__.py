"""Password reset by an emailed code, which never bypasses the second step."""
