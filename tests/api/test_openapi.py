"""The OpenAPI document lists every endpoint with its schemas, the study spec's among them,
and the docs page works offline under the site's Content-Security-Policy."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from annotation.spec.schema import spec_json_schema
from api.urls import api as ninja_api

pytestmark = pytest.mark.django_db

METHODS = {"get", "post", "put", "patch", "delete"}


def operations() -> set[tuple[str, str]]:
    """(METHOD, /api/path) of every operation the API routes, from its routers."""
    found = set()
    for prefix, router in ninja_api._routers:
        for path, view in router.path_operations.items():
            for operation in view.operations:
                for method in operation.methods:
                    url = "/api/" + (prefix.strip("/") + "/" + path.lstrip("/")).strip("/")
                    found.add((method.upper(), url))
    return found


@pytest.fixture
def document() -> dict:
    response = Client().get("/api/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_the_document_lists_every_endpoint(document):
    listed = {
        (method.upper(), path)
        for path, ops in document["paths"].items()
        for method in ops
        if method in METHODS
    }
    assert listed == operations()
    expected = {
        ("GET", "/api/studies"),
        ("POST", "/api/studies"),
        ("POST", "/api/studies/validate"),
        ("POST", "/api/studies/{name}/status"),
        ("GET", "/api/studies/{name}/progress"),
        ("GET", "/api/studies/{name}/judgments"),
        ("GET", "/api/studies/{name}/results"),
        ("GET", "/api/datasets"),
        ("POST", "/api/datasets"),
        ("GET", "/api/systems"),
        ("POST", "/api/systems"),
        ("POST", "/api/jobs"),
        ("GET", "/api/jobs/{job_id}"),
        ("POST", "/api/jobs/{job_id}/cancel"),
        ("POST", "/api/jobs/{job_id}/resume"),
    }
    assert expected <= listed


def _resolve(document: dict, schema: dict) -> dict:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    name = ref.removeprefix("#/components/schemas/")
    assert name in document["components"]["schemas"], f"{ref} is not in the document"
    return document["components"]["schemas"][name]


def _refs(node) -> list[str]:
    if isinstance(node, dict):
        return ([node["$ref"]] if "$ref" in node else []) + [
            r for v in node.values() for r in _refs(v)
        ]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_every_operation_has_a_success_schema_and_its_bodies_are_described(document):
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            where = f"{method.upper()} {path}"
            successes = {code: r for code, r in op["responses"].items() if code.startswith("2")}
            assert successes, f"{where}: no success response"
            for code, response in successes.items():
                content = response.get("content")
                assert content, f"{where} {code}: no content schema"
                for media in content.values():
                    assert _resolve(document, media["schema"]), f"{where} {code}"
            if method == "post" and not path.endswith(("/cancel", "/resume")):
                body = op.get("requestBody", {}).get("content")
                assert body, f"{where}: its body is not described"
            if "{name}" in path:
                assert "404" in op["responses"], f"{where}: the 404 of a study not yours"
    # every reference points into the document
    for ref in _refs(document):
        _resolve(document, {"$ref": ref})


def test_the_spec_is_described_by_its_own_models(document):
    """The validate operation takes the study spec as JSON with the schema annotation.spec
    publishes (the same properties and required fields), or as YAML text."""
    body = document["paths"]["/api/studies/validate"]["post"]["requestBody"]["content"]
    spec = _resolve(document, body["application/json"]["schema"])
    published = spec_json_schema()
    assert spec["properties"].keys() == published["properties"].keys()
    assert spec.get("required") == published.get("required")
    assert body["application/yaml"]["schema"]["type"] == "string"
    # the spec's parts are components too (systems, dimensions, design)
    names = set(document["components"]["schemas"])
    assert {"StudySpec", "DesignSpec", "ImportedSystem", "SliderDimension"} <= names
    create = document["paths"]["/api/studies"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in create


def test_the_docs_page_loads_its_scripts_from_this_site_under_the_csp(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    html = response.content.decode()
    policy = response["Content-Security-Policy"]
    assert (
        "script-src 'self'" in policy
        and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    )
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    sources = [re.search(r'src="([^"]+)"', attrs) for attrs, _ in scripts]
    runnable = [
        (attrs, body)
        for attrs, body in scripts
        if 'type="application/json"' not in attrs and "src=" not in attrs
    ]
    assert not runnable, "an inline script the policy would block"
    urls = [m.group(1) for m in sources if m]
    assert urls and all(u.startswith("/static/") for u in urls), urls
    styles = re.findall(r'<link[^>]+href="([^"]+)"', html)
    for url in urls + styles:
        assert not url.startswith(("http:", "https:", "//")), f"{url}: not from this site"
        served = client.get(url)
        assert served.status_code == 200, url
    assert "/api/openapi.json" in html
