"""Publishing a running session through Redis Streams, and following it from elsewhere.

``serve`` engines publish their shard of ``SessionData``; ``follow`` and ``connect``
keep a replica ``SessionData`` in step. Nothing here imports Qt.
"""
