"""Session Monitor desktop GUI (PySide6 + pyqtgraph); everything Qt lives in this package."""
