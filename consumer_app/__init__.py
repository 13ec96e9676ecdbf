"""Suiyuan consumer app (穗元钱包): open a wallet, pay by scanning, show a payment code, history."""
