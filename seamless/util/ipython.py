"""0.1.4's ``seamless.util.ipython``, from seamless_core."""

from seamless_core.legacy import ipython_execute as execute
