"""The Python SDK: `prodloop.track` and `prodloop.configure` live in `prodloop.sdk.track`."""
