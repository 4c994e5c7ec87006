"""The derivation engine room: what a processor pass shares between its paths.

Modules here import only the storage below them (``core.bars``, ``core.windows``,
``core.gaps``, ``core.session_data``), never the processor or anything above it.
"""
