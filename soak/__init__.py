"""A bounded soak test of the gateway: mixed traffic and faults for a fixed time, checking that
memory and file descriptors stay flat and that nothing unexpected happens (soak/README.md)."""
