"""The REST API (django-ninja, OpenAPI at /api/docs): what the console does, for scripts.

The top layer: it calls the console's permission checks and the apps' services, and adds
nothing of its own but the HTTP shape and personal API tokens.
"""
