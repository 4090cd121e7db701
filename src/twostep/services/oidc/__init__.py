"""twostep as an OpenID Connect provider (issue 16): clients, signing keys, the Authlib authorization
server and the sign-in hand-off. Framework-free: web.oidc adapts HTTP requests to it."""
