"""The `interstate` command line."""
