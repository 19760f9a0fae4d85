"""WebRTC live view (aiortc)."""
