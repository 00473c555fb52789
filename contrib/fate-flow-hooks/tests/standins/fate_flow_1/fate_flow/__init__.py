"""Stand-in for FATE Flow 1.11's ``fate_flow`` package, for tests only."""
