"""Rolling two-step verification out: the effective policy (who must enroll, grace periods)."""
