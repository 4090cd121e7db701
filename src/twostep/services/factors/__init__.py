"""Second-step factors as plug-ins: one module per factor behind one protocol (``base.Factor``), one
registry (``registry``), one dispatch every caller uses — sign-in, re-authentication, the password
reset, the verification API and My account. Also the machinery factors share: codes we send
(``sent_codes``: cooldowns, caps, delivery after commit) and recovery-code sets (``recovery``).
A new method is one module here, its templates, its migration, one line in ``registry.FACTORS``,
and the contract tests (``tests/factors/test_factor_contract.py``) run on it."""
