"""0.1.4's ``seamless.util.mixed``, from seamless_core."""
