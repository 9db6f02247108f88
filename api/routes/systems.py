"""Systems: the response sources of the lab (imported, reference, or a model that
generates), registered with their config validated (generation.services.register_system)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Status

from core.problems import InvalidInput
from generation.models import System
from generation.services import register_system

from ..schemas import Problems, SystemIn, SystemOut
from .studies import problem_dicts

router = Router(tags=["systems"])


def system_out(system: System) -> dict:
    return {
        "name": system.name,
        "kind": system.kind,
        "config": system.config or {},
        "created_at": system.created_at,
    }


@router.get("/systems", response=list[SystemOut], summary="The registered systems")
def list_systems(request: HttpRequest):
    return [system_out(s) for s in System.objects.order_by("name")]


@router.post(
    "/systems",
    response={201: SystemOut, 400: Problems},
    summary="Register a system; its config's problems are a 400, nothing registered",
)
def create_system(request: HttpRequest, system: SystemIn):
    """``kind``: imported, reference, hf_causal, hf_seq2seq or dexperts; ``config`` as
    ``register_system --config`` reads it (model paths are paths on the server)."""
    try:
        made = register_system(system.name, system.kind, system.config)
    except InvalidInput as error:
        return Status(400, {"problems": problem_dicts(error.problems)})
    return Status(201, system_out(made))
