"""The trace: a pure data model (events, values) and its on-disk codec.

Nothing in this package patches anything or knows about boundaries; it turns
Python values into CBOR chunks and back.
"""
