"""Second-step factors as plug-ins: one module per factor behind one protocol (``base.Factor``), one
registry (``registry``), one dispatch every caller uses — sign-in, re-authentication, the password
reset, the verification API and My account. A new method is one module here, its templates, its
migration, one line in ``registry.FACTORS``, and the contract tests (``tests/contract``) run on it."""
