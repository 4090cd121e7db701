"""The sign-in pages: password, second step, first-run setup, logout, recovery ("Can't get a code?", "I
lost my phone"), the grace-period reminder, and the return to a protected address."""
