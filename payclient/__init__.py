"""Suiyuan payment client: API client, QR codec, pay codes and money formatting (no Flask, no Kivy)."""
