"""The `artimuse` command: a thin Click adapter over artimuse_core."""
