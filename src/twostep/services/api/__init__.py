"""The verification API other applications call, and the API keys they call it with."""
