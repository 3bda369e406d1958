"""The simulation panel, CSV and CLI; who may run simulations; stale detection; approving without a fresh one."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from apps.catalog import services as catalog
from apps.core.actors import Actor
from apps.core.errors import Forbidden, ValidationFailed
from apps.usage.simulation.models import Simulation
from apps.usage.simulation.selectors import simulation_is_fresh
from apps.usage.simulation.services import simulation_create, simulation_run
from tests.usage.builders import ago, ingest, rate
from tests.usage.simulation.helpers import draft

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(world):
    tokens = world.meter("tok", cost="0.001")
    table = world.table(unit="USD")
    world.version(table, {tokens: "0.01"}, effective_from=ago(days=90))
    acme = world.customer("acme", table, billing_model="postpaid")
    calm = world.customer("calm", table, billing_model="postpaid")
    ingest(
        [world.event(acme, tokens, 1000, ago(days=d, hours=1)) for d in range(5)]
        + [world.event(calm, tokens, 10, ago(days=1, hours=2))]
    )
    rate()
    version = draft(world, table, {tokens: "0.02"})
    return world, table, tokens, version


def test_panel_runs_a_simulation_and_shows_bill_shock_first(setup, clients, django_capture_on_commit_callbacks):
    world, table, tokens, version = setup
    url = reverse("usage:simulation-panel", args=[version.pk])
    page = clients["owner"].get(url)
    assert page.status_code == 200 and "No simulation of v" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):  # the task is queued on commit (eager in tests)
        queued = clients["owner"].post(url, {}, HTTP_HX_REQUEST="true")
    assert queued.status_code == 200
    response = clients["owner"].get(url, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    simulation = Simulation.objects.get(version=version)
    assert simulation.state == Simulation.State.DONE and simulation.default_range
    assert 'id="bill-shock"' in html and "acme" in html and "+100.0 %" in html
    assert html.index('id="bill-shock"') < html.index('id="simulation-meters"')
    # postpaid only: no credits drawn and the overage is the whole bill, so those columns are left out
    assert "Credits now → simulated" not in html and "Credits drawn" not in html
    csv = clients["finance"].get(reverse("usage:simulation-csv", args=[simulation.pk]))
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    header, *rows = csv.content.decode().splitlines()
    assert header.startswith("customer,meter,events,quantity_now") and "margin_now" in header
    assert any(r.startswith("acme,tok,5,5000,5000,0,50,100,50") for r in rows), rows


def test_bad_range_is_a_form_error_not_a_500(setup, clients):
    world, table, tokens, version = setup
    url = reverse("usage:simulation-panel", args=[version.pk])
    response = clients["owner"].post(url, {"start": "2026-13-01", "end": "x"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Enter a valid date" in response.content.decode()
    later = (timezone.now() + timedelta(days=5)).date().isoformat()
    response = clients["owner"].post(url, {"start": later, "end": later}, HTTP_HX_REQUEST="true")
    assert "starts in the future" in response.content.decode()
    assert not Simulation.objects.exists()


@pytest.mark.parametrize(
    "role,status", [("owner", 200), ("finance", 200), ("am", 403), ("support", 403), ("admin", 403)]
)
def test_who_may_simulate(setup, clients, role, status):
    world, table, tokens, version = setup
    url = reverse("usage:simulation-panel", args=[version.pk])
    assert clients[role].get(url).status_code == status
    assert clients[role].post(url, {}).status_code == status
    assert Simulation.objects.exists() is (status == 200)  # queued (the task runs on commit)
    assert clients["anonymous"].get(url).status_code == 302


def test_service_refuses_other_roles(setup, actors):
    world, table, tokens, version = setup
    for role in ("am", "support", "admin"):
        with pytest.raises(Forbidden):
            simulation_create(version_id=version.id, actor=actors[role])


def test_stale_once_a_price_changes_but_not_when_submitted(setup, actors, clients):
    world, table, tokens, version = setup
    simulation = simulation_run(simulation_id=simulation_create(version_id=version.id, actor=actors["owner"]).pk)
    assert simulation_is_fresh(simulation)
    rate_id = version.rates.get().id
    catalog.rate_update_field(rate_id=rate_id, field="unit_price", value="0.03", actor=actors["owner"])
    assert not simulation_is_fresh(simulation)
    html = clients["owner"].get(reverse("usage:simulation-panel", args=[version.pk])).content.decode()
    assert 'id="simulation-stale"' in html
    catalog.rate_update_field(rate_id=rate_id, field="unit_price", value="0.02", actor=actors["owner"])
    assert simulation_is_fresh(simulation)  # the same prices again
    catalog.rate_table_version_submit(
        version_id=version.id, effective_from=timezone.now() + timedelta(days=3), reason="x", actor=actors["owner"]
    )
    assert simulation_is_fresh(simulation)  # the effective date is not what a simulation depends on


def test_approving_without_a_fresh_simulation_needs_confirmation(setup, actors, clients):
    world, table, tokens, version = setup
    submitted = catalog.rate_table_version_submit(
        version_id=version.id, effective_from=timezone.now() + timedelta(days=3), reason="x", actor=actors["owner"]
    )
    url = reverse("catalog:review-detail", args=[version.pk])
    page = clients["finance"].get(url).content.decode()
    assert 'id="approval-warnings"' in page and 'id="simulation"' in page
    data = {"decision": "approve", "content_hash": submitted.content_hash, "comment": ""}
    refused = clients["finance"].post(url, data)
    assert refused.status_code == 400 and "Confirm that you approve" in refused.content.decode()
    version.refresh_from_db()
    assert version.status == "pending_approval"
    # With a fresh simulation there is nothing to confirm.
    simulation_run(simulation_id=simulation_create(version_id=version.id, actor=actors["finance"]).pk)
    assert 'id="approval-warnings"' not in clients["finance"].get(url).content.decode()
    assert clients["finance"].post(url, data).status_code == 302
    version.refresh_from_db()
    assert version.status == "approved"


def test_confirmed_approval_without_simulation(setup, actors, clients):
    world, table, tokens, version = setup
    submitted = catalog.rate_table_version_submit(
        version_id=version.id, effective_from=timezone.now() + timedelta(days=3), reason="x", actor=actors["owner"]
    )
    url = reverse("catalog:review-detail", args=[version.pk])
    data = {"decision": "approve", "content_hash": submitted.content_hash, "confirm_warnings": "on"}
    assert clients["finance"].post(url, data).status_code == 302
    version.refresh_from_db()
    assert version.status == "approved"


def test_cli_json_shape(setup, capsys):
    world, table, tokens, version = setup
    first, last = ago(days=3).date().isoformat(), timezone.now().date().isoformat()
    call_command("simulate", str(version.pk), "--start", first, "--end", last, "--json")
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"version", "content_hash", "start", "end", "customers", "totals"}
    assert out["version"] == version.pk and out["start"] == first and out["end"] == last
    assert len(out["content_hash"]) == 64
    keys = {"amount", "credits", "overage_amount", "cost"}
    assert [c["customer"] for c in out["customers"]] == ["acme", "calm"]
    for customer in out["customers"]:
        assert set(customer) == {"customer", "current", "simulated"}
        assert set(customer["current"]) == keys == set(customer["simulated"])
        assert all(isinstance(v, str) for v in customer["current"].values())
    acme = out["customers"][0]
    days = sum(1 for d in range(5) if ago(days=d, hours=1).date().isoformat() >= first)  # 1000 tokens each
    assert acme["current"]["amount"] == str(10 * days) and acme["simulated"]["amount"] == str(20 * days)
    assert out["totals"]["current"]["amount"] == f"{10 * days}.1"
    assert out["totals"]["simulated"]["amount"] == f"{20 * days}.2"
    assert acme["current"]["overage_amount"] == str(10 * days) and acme["current"]["credits"] == "0"
    assert set(out["totals"]) == {"current", "simulated"}


@pytest.mark.parametrize(
    "args,message",
    [
        (["999999"], "No such rate table version"),
        (["abc"], "must be a number"),
        (["{v}", "--start", "2026-01-01"], "both --start and --end"),
        (["{v}", "--start", "2026-02-30", "--end", "2026-03-01"], "must be a date"),
        (["{v}", "--start", "2026-03-02", "--end", "2026-03-01"], "before the start"),
    ],
)
def test_cli_bad_input(setup, args, message):
    world, table, tokens, version = setup
    with pytest.raises(CommandError, match=message):
        call_command("simulate", *[a.format(v=version.pk) for a in args])


def test_cli_refuses_an_approved_version(setup):
    world, table, tokens, version = setup
    approved = table.versions.get(status="approved")
    with pytest.raises(CommandError, match="Only drafts and versions pending approval"):
        call_command("simulate", str(approved.pk))


def test_an_empty_draft_is_refused_before_running(setup, actors):
    world, table, tokens, version = setup
    catalog.rate_remove(rate_id=version.rates.get().id, actor=actors["owner"])
    with pytest.raises(ValidationFailed, match="no rates yet"):
        simulation_create(version_id=version.id, actor=Actor(user=actors["owner"].user))


def test_a_range_starting_where_another_version_starts_is_refused_clearly(setup, actors):
    world, table, tokens, version = setup
    approved = table.versions.get(status="approved")
    day = approved.effective_from.date()
    catalog.rate_table_version_discard(version_id=version.id, actor=actors["owner"])
    world.version(
        table,
        {tokens: "0.03"},
        effective_from=approved.effective_from.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1),
    )
    again = draft(world, table, {tokens: "0.04"})
    later = day + timedelta(days=1)
    simulation = simulation_run(
        simulation_id=simulation_create(version_id=again.id, actor=actors["owner"], start=later, end=later).pk
    )
    assert simulation.state == Simulation.State.FAILED
    assert "where the simulated range starts: choose another first day" in simulation.error
    again.refresh_from_db()
    assert again.status == "draft"


def test_the_default_range_starts_after_the_version_in_force_took_effect(world):
    # The version in force took effect inside the previous billing period: simulating a draft "as if approved from
    # the range's first day" before that would hand every later event back to the version in force (it is
    # effective later), so the default range starts the day after it took effect and the draft's prices show.
    from apps.usage.simulation.services import simulation_default_range

    tokens = world.meter("tok", cost="0.001")
    table = world.table(unit="USD")
    world.version(table, {tokens: "0.01"}, effective_from=ago(days=120))
    recent = ago(days=20)
    world.version(table, {tokens: "0.015"}, effective_from=recent)
    acme = world.customer("acme", table, billing_model="postpaid")
    ingest([world.event(acme, tokens, 1000, ago(days=d, hours=1)) for d in range(10)])
    rate()
    start, end = simulation_default_range(rate_table_id=table.id)
    assert start == (recent + timedelta(days=1)).date() and end >= timezone.now().date()
    version = draft(world, table, {tokens: "0.03"})
    simulation = simulation_run(simulation_id=simulation_create(version_id=version.pk, actor=world.owner).pk)
    line = simulation.lines.get()
    assert line.amount_simulated == 2 * line.amount_now > 0


def test_credits_and_overage_columns_show_when_credits_are_drawn(world, clients):
    tokens = world.meter("tok", cost="0.001")
    table = world.table(unit="credits")
    world.version(table, {tokens: "1"}, effective_from=ago(days=90))
    pre = world.customer("pre", table, credits="100000")
    ingest([world.event(pre, tokens, 100, ago(days=d, hours=1)) for d in range(3)])
    rate()
    version = draft(world, table, {tokens: "2"})
    simulation_run(simulation_id=simulation_create(version_id=version.pk, actor=world.owner).pk)
    html = clients["finance"].get(reverse("usage:simulation-panel", args=[version.pk])).content.decode()
    assert "Credits now → simulated" in html and "Credits drawn" in html
