"""RTSP ingest (PyAV)."""
