"""The ledger: the only writer of money. See ``service`` for the API."""
