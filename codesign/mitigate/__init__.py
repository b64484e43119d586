"""Mitigations other than TMR, applied to QNet so every level (simulator, HLS, RTL) implements them bit for bit."""
