"""Applications on top of the library: the ``iopcore`` command and the demo."""
