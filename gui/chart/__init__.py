"""Candlestick charts in three layers: Qt-free data (data.py), pyqtgraph items, widgets."""
