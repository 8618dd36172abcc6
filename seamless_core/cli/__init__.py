"""The ``seamless-checksum``, ``seamless-checksum-file`` and ``seamless-checksum-index``
command-line tools: one module each, over :mod:`seamless_core.files`."""
