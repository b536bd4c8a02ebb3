"""Helpers shared by the test suite: databases, free ports, real peer processes."""
