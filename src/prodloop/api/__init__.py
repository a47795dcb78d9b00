"""The control-plane REST API (FastAPI, OpenAPI at /docs); the app is in prodloop.api.app.

Nothing is imported here: the CLI uses small parts of this package (request models), and
importing the whole app with its dashboard would slow every command's start.
"""
