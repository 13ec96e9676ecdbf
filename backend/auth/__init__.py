"""Identity, roles and bearer tokens."""
