"""Test support: private servers and fault-injecting components."""
