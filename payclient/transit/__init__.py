"""The validator's side of transit that talks to the server: :mod:`payclient.transit.sync` (upload batches,
download the blacklist, fares and issuer keys). The card, records, fares and validator logic are wire rules
both sides share: :mod:`suiyuan_protocol.transit`."""
