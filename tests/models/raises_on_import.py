"""A user module that fails while it is imported (for the --generator failure tests)."""

raise RuntimeError("cannot find weights.pt")
