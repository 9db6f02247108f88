"""Crowd platforms a study recruits on: Prolific through its API (a draft study, submissions
approved or rejected by the quality-control decisions, returned places freed at once).

`prolific_core` is pure (payloads and decisions over plain data); `prolific` is the HTTP
client (httpx); `prolific_sync` ties them to the database (the console page: console/prolific_views.py);
`token_store` keeps a
researcher's API token encrypted at rest.
"""
