"""Binding a first or another second step: who may enroll (admission), the authenticator app, addresses and
phones we send codes to, the first-run setup link, and the mailbox check before an account's first
method."""
