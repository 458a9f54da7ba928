"""POST /api/v1/feedback: a visitor's "was this right?" on an answer, kept in the system of record
(store/). The form carries the image itself (gateway.feedback_form), never its hash alone, so that the
answer says nothing about an image to someone who does not hold it. Rate limited like the rest: one
unit, and a classification's price on top when no answer for the image is cached (the gateway then
classifies it first). A plain Starlette route, as classify is (gateway.api.routes.classify)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from gateway import feedback, use_cases
from gateway.api.deps import Priced, admit, client_of, services_of, settle
from gateway.api.keyed import SCOPE_FEEDBACK
from gateway.feedback_form import read_feedback_form
from gateway.request_context import current
from gateway.responses import JsonResponse
from gateway.services import Services
from gateway.validation import TOP_K_MAX


async def send_feedback(request: Request) -> JsonResponse:
    services = services_of(request)
    settings = services.settings
    decision = await admit(request, services, scope=SCOPE_FEEDBACK)
    client = voter(request, services)
    form = await read_feedback_form(request, settings, services.state.served_labels())
    answer = await feedback.judged_answer(services, form.sha256)
    if answer is None:
        cost = 1 + form.upload.units(settings.pixels_per_unit)
        decision = await settle(request, services, decision, cost, Priced("this vote with its image"))
        answer = await use_cases.classify(services, form.upload, TOP_K_MAX)
    body = await feedback.record(services, form, answer, client)
    status = 200 if body["feedback"]["updated"] else 201
    return JsonResponse(body, status_code=status, headers=decision.headers())


def voter(request: Request, services: Services) -> str:
    """Who a vote is from: the API key's public id (fsl_<prefix>), else a keyed hash of the address's
    bucket (gateway.feedback_store)."""
    if (context := current()) is not None and context.key is not None:
        return context.key.id
    return services.feedback.client_id(client_of(request, services))


routes = [Route("/api/v1/feedback", send_feedback, methods=["POST"])]
