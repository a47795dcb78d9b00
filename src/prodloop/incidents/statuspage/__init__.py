"""The public status page: its model, Statuspage-shaped JSON, Atom feed and badges."""
