"""Suiyuan merchant app (穗元商户): collect by dynamic QR, charge payment codes, today's receipts, refunds."""
