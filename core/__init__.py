"""Headless Session Monitor engine: plain Python + numpy, never imports Qt."""
