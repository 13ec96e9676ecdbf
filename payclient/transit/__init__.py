"""Transit hard wallets and validators (交通出行, 硬钱包), pure Python: no Kivy, no Flask.

- :mod:`payclient.transit.records` — the signed payment record, its canonical bytes and hash chain,
  and the issuer's load authorisations and card certificates;
- :mod:`payclient.transit.card` — the card as a secure element (own Ed25519 key, balance, counter);
- :mod:`payclient.transit.fares` — fares as data (Guangzhou metro by distance, bus flat fares,
  the monthly discount, daily and monthly caps, a missing tap-out);
- :mod:`payclient.transit.terminal` — the validator: checks, charges, stores durably, batches.

The server (the ``transit`` plug-in) imports :mod:`records` and :mod:`fares`: one wire format.
"""
