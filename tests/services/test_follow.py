"""Following numbers in the background: one chain per application, deduplicated, backed off,
stopping when nothing is in progress; tasks safe to run twice; stuck numbers marked once.

Run against the immediate backend (the suite's default: no worker, ``nxwa_follow`` from cron)
and Django's dummy backend (a queue that keeps what is enqueued, so the chain can be driven by
hand); ``tests/test_tasks.py`` runs the same flow with real ``db_worker`` and RQ workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from nxwa_onboarding import services, signals, tasks
from nxwa_onboarding.compat import task_backends
from nxwa_onboarding.conf import conf
from nxwa_onboarding.models import FollowState, PhoneRegistration
from nxwa_onboarding.models.holds import EVERYONE, CallHold
from nxwa_onboarding.services import follow, sync
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.services import caught

pytestmark = pytest.mark.django_db

Status = PhoneRegistration.Status
APP_KEY = "test-app-key"
#: ``django.tasks`` on Django 6, ``django_tasks`` (the backport) on 5.2.
TASKS_PACKAGE = task_backends.__class__.__module__
DUMMY = {"default": {"BACKEND": f"{TASKS_PACKAGE}.backends.dummy.DummyBackend"}}


def registration(phone: str, status: str = Status.CLIENT_CREATED, **fields: Any) -> PhoneRegistration:
    now = timezone.now()
    return PhoneRegistration.objects.create(
        phone_number=phone, status=status, verified_at=fields.pop("verified_at", now), **fields
    )


def numbers(count: int, nxcloud: FakeNXCloud, status: str = Status.CLIENT_CREATED) -> list[PhoneRegistration]:
    made = [registration(f"86138{index:08d}", status) for index in range(count)]
    for item in made:
        nxcloud.start_client(item.phone_number)
    return made


def refresh_url(item: PhoneRegistration) -> str:
    return reverse("nxwa_onboarding:refresh", kwargs={"public_id": item.public_id})


@pytest.fixture
def queue(settings: Any) -> Iterator[Any]:
    """A backend that runs nothing by itself: what a worker would run is in ``.results``."""
    settings.TASKS = DUMMY
    backend: Any = task_backends["default"]
    backend.clear()
    yield backend
    backend.clear()


def enqueued(queue: Any, name: str) -> list[Any]:
    return [result for result in queue.results if result.task.name == name]


def run(result: Any) -> Any:
    """What a worker does with one enqueued task (its on-commit work included)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return result.task.call(*result.args, **result.kwargs)


# -- the cron pass, no worker ------------------------------------------------------------------------


def test_one_phone_list_per_step_however_many_wait(nxcloud: FakeNXCloud) -> None:
    numbers(30, nxcloud)
    call_command("nxwa_follow", stdout=None)
    assert len(nxcloud.calls_to("phoneList")) == 1
    assert PhoneRegistration.objects.filter(register_status=3).count() == 30


def test_the_cron_pass_stops_when_nothing_is_in_progress(nxcloud: FakeNXCloud) -> None:
    registration("8613800138000", Status.REGISTERED)
    assert tasks.follow_pass() == []
    assert nxcloud.calls_to("phoneList") == []


def test_pages_never_call_on_the_immediate_backend(client: Any, customer: Any, nxcloud: FakeNXCloud) -> None:
    mine = registration("8613800138000", owner=customer)
    nxcloud.start_client(mine.phone_number)
    client.force_login(customer)
    for _ in range(5):
        answer = client.post(refresh_url(mine), HTTP_X_REQUESTED_WITH="fetch")
        assert answer.json()["status"] == "client_created"
    assert nxcloud.calls == []


# -- the chain on a queue --------------------------------------------------------------------------


def test_polls_nudge_one_chain_and_make_no_call(
    queue: Any, client: Any, customer: Any, nxcloud: FakeNXCloud
) -> None:
    mine = registration("8613800138000", owner=customer)
    # A registered number whose health is due a getPhone read: only the follower reads it.
    done = registration("8613900139000", Status.REGISTERED, owner=customer)
    client.force_login(customer)
    for _ in range(10):
        with TestCase.captureOnCommitCallbacks(execute=True):
            answer = client.post(refresh_url(mine), HTTP_X_REQUESTED_WITH="fetch")
            assert client.get(done.get_absolute_url()).status_code == 200
            client.post(refresh_url(done), HTTP_X_REQUESTED_WITH="fetch")
        assert answer.json()["status"] == "client_created"
    assert nxcloud.calls == []
    assert len(enqueued(queue, "follow_application")) == 1


def test_the_chain_backs_off_and_stops(queue: Any, nxcloud: FakeNXCloud, settings: Any) -> None:
    settings.NXWA_ONBOARDING = {**settings.NXWA_ONBOARDING, "FOLLOW_BACKOFF": (5, 20)}
    [item] = numbers(1, nxcloud)
    nxcloud.set_register_status(item.phone_number, 3)  # pinned: nothing changes for a while
    with TestCase.captureOnCommitCallbacks(execute=True):
        tasks.nudge(APP_KEY)
    intervals = []
    now = timezone.now()
    for _ in range(5):
        [result] = enqueued(queue, "follow_application")
        queue.clear()
        when = result.task.run_after or now
        with time_machine.travel(when, tick=False):
            run(result)
        state = FollowState.objects.get()
        intervals.append(state.interval)
        now = when
    assert intervals == [5, 10, 20, 20, 20]  # the first step saw register_status 3 arrive
    assert len(nxcloud.calls_to("phoneList")) == 5
    nxcloud.set_register_status(item.phone_number, 5)
    [result] = enqueued(queue, "follow_application")
    queue.clear()
    with time_machine.travel(result.task.run_after, tick=False):
        run(result)
    assert PhoneRegistration.objects.get().status == Status.REGISTERED
    assert enqueued(queue, "follow_application") == []  # nothing in progress: the chain ends
    assert FollowState.objects.get().chain == ""


def test_a_number_set_up_as_the_chain_stops_is_still_followed(
    queue: Any, nxcloud: FakeNXCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chain's last step has found nothing in progress and not yet ended the chain when a
    number's client is created in another worker: that task's nudge finds the chain alive and
    starts none. The number must be followed all the same, not left to a page poll or cron."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        tasks.nudge(APP_KEY)
    [last] = enqueued(queue, "follow_application")
    queue.clear()
    late = registration("8613800138000", Status.NEW)
    seen_alive: list[bool] = []
    mark_stuck = follow.mark_stuck

    def meanwhile(now: Any = None) -> int:  # called between the step's last look and its end
        if not seen_alive:
            PhoneRegistration.objects.filter(pk=late.pk).update(status=Status.CLIENT_CREATED)
            nxcloud.start_client(late.phone_number)
            seen_alive.append(follow.chain_alive(APP_KEY))
            with TestCase.captureOnCommitCallbacks(execute=True):
                tasks.nudge(APP_KEY)  # what set_up_client does once the client is created
        return mark_stuck(now)

    monkeypatch.setattr(follow, "mark_stuck", meanwhile)
    run(last)
    assert seen_alive == [True]  # that nudge found the old chain alive and started none
    [following] = enqueued(queue, "follow_application")
    assert following.args[1] == FollowState.objects.get().chain != ""
    monkeypatch.undo()
    run(following)
    assert PhoneRegistration.objects.get().register_status == 3


def test_a_task_run_twice_steps_once(queue: Any, nxcloud: FakeNXCloud) -> None:
    numbers(2, nxcloud)
    with TestCase.captureOnCommitCallbacks(execute=True):
        tasks.nudge(APP_KEY)
    [result] = enqueued(queue, "follow_application")
    queue.clear()
    run(result)
    run(result)  # redelivered: its step already moved the chain on
    assert len(nxcloud.calls_to("phoneList")) == 1
    assert len(enqueued(queue, "follow_application")) == 1


def test_two_workers_never_step_one_application_at_once(queue: Any, nxcloud: FakeNXCloud) -> None:
    numbers(1, nxcloud)
    FollowState.objects.create(app_key=APP_KEY, lease_until=timezone.now() + timedelta(minutes=1))
    assert follow.step(APP_KEY).ran is False
    assert nxcloud.calls == []


def test_a_chain_whose_worker_died_is_picked_up_by_the_cron_pass(queue: Any, nxcloud: FakeNXCloud) -> None:
    numbers(1, nxcloud)
    with TestCase.captureOnCommitCallbacks(execute=True):
        tasks.nudge(APP_KEY)
    queue.clear()  # the worker died with the task: nothing will run it
    FollowState.objects.update(lease_until=timezone.now() + services.stale_after())  # mid-step
    later = timezone.now() + services.stale_after() * 2
    with time_machine.travel(later, tick=False), TestCase.captureOnCommitCallbacks(execute=True):
        tasks.follow_pass()
    assert len(nxcloud.calls_to("phoneList")) == 1  # the lease lapsed: the cron pass stepped
    [fresh] = enqueued(queue, "follow_application")  # and a new chain replaced the dead one
    assert fresh.args[1] == FollowState.objects.get().chain
    # Its first step waits for the backoff after the cron's: not a second phoneList at once.
    with time_machine.travel(later, tick=False):
        assert run(fresh)["ran"] is False
    assert len(nxcloud.calls_to("phoneList")) == 1
    with time_machine.travel(later + timedelta(seconds=conf.FOLLOW_BACKOFF[1]), tick=False):
        assert run(fresh)["ran"] is True
    assert len(nxcloud.calls_to("phoneList")) == 2


def test_a_replaced_chains_task_stops(queue: Any, nxcloud: FakeNXCloud) -> None:
    numbers(1, nxcloud)
    state = FollowState.objects.create(app_key=APP_KEY, chain="new", next_step_at=timezone.now())
    assert tasks.follow_application.call(state.pk, "old")["ran"] is False
    assert nxcloud.calls == []


# -- client creation ---------------------------------------------------------------------------------


def test_set_up_client_twice_creates_one_client(queue: Any, nxcloud: FakeNXCloud) -> None:
    item = registration("8613800138000", Status.VERIFIED)
    nxcloud.mark_verified(item.phone_number)
    with TestCase.captureOnCommitCallbacks(execute=True):
        tasks.client_after_commit(item)
    [result] = enqueued(queue, "set_up_client")
    assert run(result) == Status.CLIENT_CREATED
    assert run(result) == Status.CLIENT_CREATED  # a no-op: already created
    assert len(nxcloud.calls_to("createClient")) == 1
    assert len(enqueued(queue, "follow_application")) == 1  # and its application is followed


def test_a_lost_create_client_is_settled_by_the_follower_never_resent(nxcloud: FakeNXCloud) -> None:
    long_ago = timezone.now() - services.stale_after() * 2
    item = registration("8613800138000", Status.VERIFIED, client_requested_at=long_ago)
    tasks.follow_pass()
    assert nxcloud.calls_to("createClient") == []
    assert PhoneRegistration.objects.get().status == Status.VERIFIED  # not listed: still unknown
    nxcloud.start_client(item.phone_number)  # it had taken after all
    tasks.follow_pass()
    assert PhoneRegistration.objects.get().status == Status.CLIENT_CREATED
    assert nxcloud.calls_to("createClient") == []


def test_an_enqueue_that_fails_is_caught_up_by_the_cron_pass(settings: Any, nxcloud: FakeNXCloud) -> None:
    settings.TASKS = {"default": {"BACKEND": "tests.services.test_follow.BrokenBackend"}}
    item = registration("8613800138000", Status.VERIFIED, verified_at=timezone.now())
    nxcloud.mark_verified(item.phone_number)
    with TestCase.captureOnCommitCallbacks(execute=True):
        tasks.client_after_commit(item)  # logged, not raised
    settings.TASKS = {"default": {"BACKEND": f"{TASKS_PACKAGE}.backends.immediate.ImmediateBackend"}}
    with time_machine.travel(timezone.now() + services.stale_after() * 2):
        tasks.follow_pass()
    assert PhoneRegistration.objects.get().status == Status.CLIENT_CREATED
    assert len(nxcloud.calls_to("createClient")) == 1


def test_a_chain_the_queue_could_not_take_is_started_again_by_the_next_nudge(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "tests.services.test_follow.BrokenBackend"}}
    item = registration("8613800138000", Status.CLIENT_CREATED)
    app_key = follow.app_key_of(item)
    with TestCase.captureOnCommitCallbacks(execute=True):
        tasks.nudge(app_key)  # the queue is down: logged, and no chain left looking alive
    assert not follow.chain_alive(app_key)
    assert follow.claim_new_chain(app_key) is not None  # the next poll (or the cron pass) starts one


class BrokenBackend(task_backends["default"].__class__):  # type: ignore[misc]
    """A queue that is down (Redis refusing connections), on the immediate backend's catch-up;
    a real Redis killed under a real worker is ``tests/test_tasks.py``."""

    supports_defer = True

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def refused_set_up(nxcloud: FakeNXCloud) -> PhoneRegistration:
    """A verified number whose background createClient NXCloud refused (9001: not verified there)."""
    item = registration("8613800138000", Status.VERIFIED, verified_at=timezone.now() - timedelta(hours=1))
    tasks.follow_pass()  # the immediate backend: the orphan's set-up runs inline
    assert len(nxcloud.calls_to("createClient")) == 1
    item.refresh_from_db()
    assert item.status == Status.VERIFIED
    assert item.client_refusal.startswith("9001: ")
    return item


def test_a_client_nxcloud_refused_is_not_sent_again_by_the_follower(nxcloud: FakeNXCloud) -> None:
    item = refused_set_up(nxcloud)
    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        tasks.follow_pass()
        tasks.follow_pass()
    assert len(nxcloud.calls_to("createClient")) == 1
    assert not follow.in_progress(follow.app_key_of(item))  # nor does it keep a chain going
    assert follow.app_keys_in_progress() == []


def test_a_customer_polling_a_refused_client_sends_nothing(
    queue: Any, client: Any, customer: Any, nxcloud: FakeNXCloud
) -> None:
    item = registration("8613800138000", Status.VERIFIED, owner=customer, client_refusal="9001: not verified")
    PhoneRegistration.objects.filter(pk=item.pk).update(verified_at=timezone.now() - timedelta(hours=1))
    client.force_login(customer)
    for _ in range(5):
        with TestCase.captureOnCommitCallbacks(execute=True):
            answer = client.post(refresh_url(item), HTTP_X_REQUESTED_WITH="fetch")
        assert answer.json() == {"status": "verified", "changed": False, "done": True}
    assert queue.results == []  # no set-up and no chain enqueued
    page = client.get(item.get_absolute_url()).content.decode()
    assert "Our team has been told" in page
    assert "data-nxwa-poll" not in page


def test_a_refused_client_needs_attention_at_once_and_staff_can_send_it_again(nxcloud: FakeNXCloud) -> None:
    item = refused_set_up(nxcloud)
    item.refresh_from_db()
    assert item.stuck_at is not None
    assert PhoneRegistration.objects.filter(follow.needs_attention()).get() == item
    nxcloud.mark_verified(item.phone_number)  # the cause fixed at NXCloud
    services.create_client(item, resend_unknown=True)  # the admin's action
    item.refresh_from_db()
    assert (item.status, item.client_refusal) == (Status.CLIENT_CREATED, "")
    assert PhoneRegistration.objects.filter(stuck_at__isnull=True).get() == item  # put right
    assert len(nxcloud.calls_to("createClient")) == 2


def test_a_set_up_that_never_reached_nxcloud_is_tried_again(nxcloud: FakeNXCloud) -> None:
    item = registration("8613800138000", Status.VERIFIED, verified_at=timezone.now() - timedelta(hours=1))
    nxcloud.mark_verified(item.phone_number)
    nxcloud.fail("createClient", connection_error=True, times=10)  # the transport's retries too
    tasks.follow_pass()
    item.refresh_from_db()
    assert (item.status, item.client_refusal, item.client_requested_at) == (Status.VERIFIED, "", None)
    nxcloud.clear_failures()
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        tasks.follow_pass()
    assert PhoneRegistration.objects.get().status == Status.CLIENT_CREATED


# -- stuck numbers -----------------------------------------------------------------------------------


def test_stuck_registrations_are_marked_once_with_a_signal(settings: Any, nxcloud: FakeNXCloud) -> None:
    settings.NXWA_ONBOARDING = {**settings.NXWA_ONBOARDING, "STUCK_AFTER": 3600}
    old = timezone.now() - timedelta(hours=2)
    stuck = registration("8613800138000", verified_at=old)
    waiting = registration("8613900139000", Status.CODE_SENT, verified_at=None, code_sent_at=old)
    fresh = registration("8615012345678")
    with caught(signals.registration_stuck) as sent:
        tasks.follow_pass()
        tasks.follow_pass()
    assert sorted(s["registration"].pk for s in sent) == sorted([stuck.pk, waiting.pk])
    marked = set(PhoneRegistration.objects.filter(follow.needs_attention()).values_list("pk", flat=True))
    assert marked == {stuck.pk, waiting.pk}
    assert fresh.pk not in marked


def test_the_admin_filters_and_explains_stuck_registrations(admin_client: Any) -> None:
    old = timezone.now() - timedelta(days=2)
    stuck = registration("8613800138000", Status.VERIFIED, verified_at=old, client_requested_at=old)
    registration("8613900139000")
    follow.mark_stuck()
    listing = admin_client.get("/admin/nxwa_onboarding/phoneregistration/?attention=yes").content.decode()
    assert "+86 138 0013 8000" in listing
    assert "+86 139 0013 9000" not in listing
    page = admin_client.get(f"/admin/nxwa_onboarding/phoneregistration/{stuck.pk}/change/").content.decode()
    assert "Needs attention" in page
    assert "its answer never came" in page


# -- sync at scale -----------------------------------------------------------------------------------


def updates(queries: CaptureQueriesContext) -> list[str]:
    """The UPDATEs of registrations (the application's own "last synced" stamp, one row a pass,
    is not counted)."""
    return [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith("UPDATE") and "nxwa_onboarding_application" not in q["sql"]
    ]


def test_a_pass_where_nothing_changed_writes_nothing(nxcloud: FakeNXCloud) -> None:
    made = numbers(50, nxcloud)
    for item in made:
        nxcloud.set_register_status(item.phone_number, 4)
    services.sync_statuses()
    with CaptureQueriesContext(connection) as queries:
        summary = services.sync_statuses()
    assert summary.matched == 50
    assert summary.changed == []
    assert updates(queries) == []


def test_a_pass_where_everything_changed_writes_in_batches(nxcloud: FakeNXCloud, monkeypatch: Any) -> None:
    monkeypatch.setattr(sync, "BATCH", 20)
    monkeypatch.setattr(sync, "WRITE_BATCH", 20)
    made = numbers(50, nxcloud)
    for item in made:
        nxcloud.set_register_status(item.phone_number, 5)
    with caught(signals.registration_completed) as completed, CaptureQueriesContext(connection) as queries:
        summary = services.sync_statuses()
    assert len(summary.changed) == 50
    assert len(completed) == 50
    # Three batches of details (one UPDATE ... FROM VALUES each, a transaction by itself), three
    # of status moves (each locks its rows first: one transaction a batch, here a savepoint as
    # the test runs inside a transaction): six UPDATEs for fifty rows, not one a row.
    assert len(updates(queries)) == 6
    assert len([q for q in queries.captured_queries if q["sql"].upper().startswith("SAVEPOINT")]) == 3
    registered = PhoneRegistration.objects.filter(status=Status.REGISTERED, registered_at__isnull=False)
    assert registered.count() == 50


def test_the_follower_reads_no_phone_list_while_the_breaker_is_open(nxcloud: FakeNXCloud) -> None:
    """The breaker stops every call to NXCloud, the follower's phoneList included: its chain
    goes on with its backoff and reads again once the breaker has closed."""
    numbers(3, nxcloud)
    now = timezone.now()
    CallHold.objects.create(scope=EVERYONE, until=now + timedelta(minutes=5), failures=20, started_at=now)
    paused = follow.step(APP_KEY)
    assert nxcloud.calls_to("phoneList") == []
    assert paused.ran
    assert paused.error == "paused"
    assert paused.again_at is not None
    CallHold.objects.filter(scope=EVERYONE).update(until=now)
    follow.step(APP_KEY)
    assert len(nxcloud.calls_to("phoneList")) == 1
