"""The administration console under /admin and the one gate in front of every route of it."""
