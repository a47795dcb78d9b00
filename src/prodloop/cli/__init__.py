"""The `prodloop` command: one module per command group."""
