"""0.1.4's ``seamless.checksum`` helpers, from seamless_core."""
