"""The REST API at /api/ (django-ninja): its routes, its OpenAPI document at
/api/openapi.json and the interactive docs at /api/docs (Swagger UI from django-ninja's own
static files: no CDN, no inline script, so the site's Content-Security-Policy holds).

Mounted by evalsite/urls.py, the one module that imports this package. The console's API
tokens page is here too (api.token_views): the console may not import the API's models.
"""

from __future__ import annotations

from typing import Any

from django.urls import path
from ninja import NinjaAPI

from . import token_views
from .auth import API_AUTH
from .routes import datasets, jobs, studies, systems
from .schemas import spec_components

API_TITLE = "evalsite API"


class EvalsiteAPI(NinjaAPI):
    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params=None) -> Any:
        """The document, with the study spec's own schema (annotation.spec) among its
        components, which the spec-taking operations refer to."""
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, part in spec_components().items():
            components.setdefault(name, part)
        return schema


api = EvalsiteAPI(
    title=API_TITLE,
    version="1",
    description=(
        "Everything the console does, for scripts: studies from a spec to results, "
        "datasets, systems and generation jobs. Authenticate with a personal token "
        "(`Authorization: Bearer <token>`, made on the console's API tokens page); it acts "
        "as you, with your roles in each study — a study you are not a member of is a 404."
    ),
    auth=API_AUTH,
    urls_namespace="api",
)
for module in (studies, datasets, systems, jobs):
    api.add_router("/", module.router)

urlpatterns = [path("", api.urls)]

# The researcher's tokens page, beside the other account pages (evalsite/urls.py mounts it
# at accounts/tokens/, outside console/, where a segment can be a study's name).
token_urlpatterns = [
    path("", token_views.tokens, name="api-tokens"),
    path("<int:token_id>/revoke/", token_views.revoke, name="api-token-revoke"),
]
