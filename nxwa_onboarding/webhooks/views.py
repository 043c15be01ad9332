"""The webhook: one URL per customer application, ``<token>/``, POST only, no CSRF (NXCloud has
no cookie). Unknown or unusable tokens are 404. For an application whose callbacks NXCloud signs,
a missing, stale or wrong signature is 403 and nothing is stored; for one whose callbacks are not
signed, the unguessable token in the URL is the only key. Anything accepted is answered 200 at
once (stored and applied first, nothing called), whatever the body holds.
"""

from __future__ import annotations

import hashlib
import logging
import time

from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ..conf import conf
from ..models import Application
from .events import parse, unparseable
from .receive import Body, store
from .signature import CallbackSignature

logger = logging.getLogger("nxwa_onboarding.webhooks")

#: Bodies up to this size are parsed; a larger one is stored (its start) as unreadable.
PARSE_LIMIT = 1024 * 1024
#: Bodies beyond this are not read at all (413): no NXCloud event comes near it.
MAX_BODY = 16 * 1024 * 1024
CHUNK = 64 * 1024


def _read(request: HttpRequest, signature: CallbackSignature | None) -> Body | None:
    """Read the raw body in chunks (feeding the signature and the digest); None past MAX_BODY."""
    digest = hashlib.sha256()
    head = bytearray()
    size = 0
    while chunk := request.read(CHUNK):
        size += len(chunk)
        if size > MAX_BODY:
            return None
        digest.update(chunk)
        if signature is not None:
            signature.feed(chunk)
        if len(head) <= PARSE_LIMIT:
            head += chunk[: PARSE_LIMIT + 1 - len(head)]
    return Body(bytes(head), size, digest.hexdigest(), size > PARSE_LIMIT)


@csrf_exempt
@require_POST
@transaction.non_atomic_requests
def receive(request: HttpRequest, token: str) -> HttpResponse:
    application = Application.objects.usable().filter(webhook_token=token).first()
    if application is None:
        raise Http404
    signature = None
    if application.signs_callbacks:
        signature = CallbackSignature(
            request.headers,
            access_key=conf.ACCESS_KEY,
            access_secret=conf.ACCESS_SECRET,
            now_ms=int(time.time() * 1000),
        )
    body = _read(request, signature)
    if body is None:
        logger.warning(
            "webhook for application %s: a body over %d bytes was refused", application.pk, MAX_BODY
        )
        return HttpResponse(status=413)
    if signature is not None:
        problem = signature.problem()
        if problem:
            logger.warning("webhook for application %s refused: signature %s", application.pk, problem)
            return HttpResponse(status=403)
    if body.too_large:
        event = unparseable(f"larger than {PARSE_LIMIT} bytes", body.digest)
    else:
        event = parse(body.head, body.digest)
    store(application, event, body, signed=signature is not None)
    return JsonResponse({"code": 0, "message": "success"})
