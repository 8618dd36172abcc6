"""Test helpers shared by the suite: fakes for the cache tests, the 0.1.4 vectors, and the
seeded value generator used for differential runs against 0.1.4."""
