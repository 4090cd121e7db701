"""Getting back in when the phone is lost: a recovery code, then "I lost my phone" (the old methods go,
a new one is enrolled)."""
