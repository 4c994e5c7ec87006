"""Bar sources behind one interface: the demo feed, Lean folders, CSV/Parquet files."""
