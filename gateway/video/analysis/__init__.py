"""Analysis of decoded frames: motion gating, detection, tracking, rules."""
