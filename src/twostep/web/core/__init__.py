"""What every page and endpoint shares: per-request page context and rendering, cookies, CSRF and security
headers, the input guard, HTTP method rules, same-site links, message tables, metrics and the access
log."""
