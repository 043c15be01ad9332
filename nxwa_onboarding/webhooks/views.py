"""The webhook: one URL per customer application, ``<token>/``, POST only, no CSRF (NXCloud has
no cookie). Unknown or unusable tokens are 404. For an application whose callbacks NXCloud signs,
a missing, stale or wrong signature is 403 and nothing is stored; for one whose callbacks are not
signed, the unguessable token in the URL is the only key. Anything accepted is answered 200 at
once (stored and applied first, nothing called), whatever the body holds.

Headers that already fail are refused before the body is read. A signed callback is bound to
the application whose URL received it: the same signed event already stored for another
application within the signature's window is refused (403), so a captured callback cannot be
replayed to a second application's URL. What an unsigned application's URL stores is limited:
bodies over ``UNSIGNED_MAX_BODY`` are 413, and past ``UNSIGNED_PER_MINUTE`` stored deliveries
in the last minute, 429 (nothing read, nothing stored).
"""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import timedelta

from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ..conf import conf
from ..models import Application, WebhookDelivery
from .events import parse, unparseable
from .receive import Body, store
from .signature import TS_WINDOW_MS, CallbackSignature

logger = logging.getLogger("nxwa_onboarding.webhooks")

#: Bodies up to this size are parsed; a larger one is stored (its start) as unreadable.
PARSE_LIMIT = 1024 * 1024
#: Bodies beyond this are not read at all (413): no NXCloud event comes near it.
MAX_BODY = 16 * 1024 * 1024
CHUNK = 64 * 1024
#: An unsigned application's URL: the largest body read, and the deliveries stored a minute.
UNSIGNED_MAX_BODY = 256 * 1024
UNSIGNED_PER_MINUTE = 120


def _read(request: HttpRequest, signature: CallbackSignature | None, limit: int = MAX_BODY) -> Body | None:
    """Read the raw body in chunks (feeding the signature and the digest); None past ``limit``."""
    digest = hashlib.sha256()
    head = bytearray()
    size = 0
    while chunk := request.read(CHUNK):
        size += len(chunk)
        if size > limit:
            return None
        digest.update(chunk)
        if signature is not None:
            signature.feed(chunk)
        if len(head) <= PARSE_LIMIT:
            head += chunk[: PARSE_LIMIT + 1 - len(head)]
    return Body(bytes(head), size, digest.hexdigest(), size > PARSE_LIMIT)


def _stored_for_another(application: Application, digest: str) -> bool:
    """The same event, signed, stored for another application within the signature's window
    (both sides of it): a replay of a captured callback to this application's URL."""
    since = timezone.now() - timedelta(milliseconds=2 * TS_WINDOW_MS)
    others = WebhookDelivery.objects.filter(dedupe_key=digest, signed=True, received_at__gt=since)
    return others.exclude(application=application).exists()


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
        if signature.header_problem():
            logger.warning(
                "webhook for application %s refused: signature %s", application.pk, signature.header_problem()
            )
            return HttpResponse(status=403)
        limit = MAX_BODY
    else:
        minute_ago = timezone.now() - timedelta(minutes=1)
        recent = WebhookDelivery.objects.filter(application=application, received_at__gt=minute_ago)
        if recent[:UNSIGNED_PER_MINUTE].count() >= UNSIGNED_PER_MINUTE:
            logger.warning(
                "webhook for application %s: over %d a minute, refused", application.pk, UNSIGNED_PER_MINUTE
            )
            return HttpResponse(status=429, headers={"Retry-After": "60"})
        limit = UNSIGNED_MAX_BODY
    body = _read(request, signature, limit)
    if body is None:
        logger.warning("webhook for application %s: a body over %d bytes was refused", application.pk, limit)
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
    if signature is not None and _stored_for_another(application, event.digest):
        logger.warning("webhook for application %s refused: signed for another application", application.pk)
        return HttpResponse(status=403)
    store(application, event, body, signed=signature is not None)
    return JsonResponse({"code": 0, "message": "success"})
