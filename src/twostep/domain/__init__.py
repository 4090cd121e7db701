"""Pure rules of two-step verification: no web, database or delivery code lives here."""
