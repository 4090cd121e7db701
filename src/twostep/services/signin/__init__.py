"""Signing in: the password step and the second step (``login``), the one check every second-step
code goes through (``second_step_check``, with the wrong-code bookkeeping in ``guesses``), how a
sign-in ends (``completion``: one place every successful sign-in goes through, and where a
``continue_to`` target — a page of this site, or a registered destination such as a forward-auth
redirect or an OIDC authorization — is carried through the whole flow and resumed), and the read
models the sign-in pages show (``views``)."""
