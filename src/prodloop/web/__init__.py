"""The control plane's web pages: the public status page."""
