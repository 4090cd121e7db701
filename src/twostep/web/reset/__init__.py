"""Password reset pages: the emailed code, the new password and the real second step."""
