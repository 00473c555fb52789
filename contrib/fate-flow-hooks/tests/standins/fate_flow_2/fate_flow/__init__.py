"""Stand-in for FATE Flow 2.x (2.0 to 2.2), as far as its hooks go."""
