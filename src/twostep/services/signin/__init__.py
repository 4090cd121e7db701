"""Signing in: how a sign-in ends (``completion``: one place every successful sign-in goes through,
and where a ``continue_to`` target — a page of this site, or a registered destination such as a
forward-auth redirect or an OIDC authorization — is carried through the whole flow and resumed)."""
