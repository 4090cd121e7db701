"""Endpoints for other applications: the verification API, OpenID Connect, and forward-auth (plain-ASGI
fast routes)."""
