"""Merchants that accept e-CNY in the demonstration zones."""
