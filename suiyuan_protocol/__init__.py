"""The wire rules the server and the apps share: money, the EMVCo codec, payment codes, and Suiyuan's
profile of them (QR identifiers, tag meanings, caps, wallet tiers). Imports neither Flask nor Kivy."""
