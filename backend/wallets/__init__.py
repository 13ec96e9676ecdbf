"""Consumer e-CNY wallets: opening, tiers, top-up, redemption, transfers."""
