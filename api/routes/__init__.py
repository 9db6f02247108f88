"""The API's routes, one router per resource: studies (per-study roles, console.access),
and the lab's shared datasets, systems and generation jobs (any researcher)."""
