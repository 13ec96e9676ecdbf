"""Transit hard wallets and validators (交通出行, 硬钱包), pure Python: no Kivy, no Flask.

- :mod:`suiyuan_protocol.transit.records` — the signed payment record, its canonical bytes and hash chain,
  and the issuer's load authorisations and card certificates;
- :mod:`suiyuan_protocol.transit.card` — the card as a secure element (own Ed25519 key, balance, counter);
- :mod:`suiyuan_protocol.transit.fares` — fares as data (Guangzhou metro by distance, bus flat fares,
  the monthly discount, daily and monthly caps, a missing tap-out);
- :mod:`suiyuan_protocol.transit.terminal` — the validator: checks, charges, stores durably, batches.

The server (the ``transit`` plug-in) and the validator import :mod:`records` and :mod:`fares`: one wire format.
"""
