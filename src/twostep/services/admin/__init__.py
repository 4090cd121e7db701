"""Administration: users and their two-step state, who may enter the console, the admin role, roles, and
importing a user base."""
