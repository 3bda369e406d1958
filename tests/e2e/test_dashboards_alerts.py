"""An account manager opens a customer near its limit and sees the 90 % alert and the forecast run-out date; a
monetization owner sees a below-cost meter flagged on the margin page. Data through the real services: contracts,
wallets, ingestion and rating (whose batch triggers the alert evaluation)."""

from apps.alerts.models import Alert, Kind
from apps.wallets.selectors import wallet_runway
from tests.alerts.builders import Shop, ago, ingest, rate
from tests.conftest import PASSWORD


def test_account_manager_sees_the_90_percent_alert_and_the_run_out_date(new_page, users, actors):
    shop = Shop(actors)
    customer = shop.customer("near-limit", credits="3000", manager=users["am"], allowances={shop.tokens: 1_000_000})
    customer.name = "Near Limit Co"
    customer.save()
    # 920k of 1M included tokens (92 %), and 440 images at 5 credits: 800 credits left, burning ~157 a day
    ingest(
        [shop.event(customer, shop.tokens, 460_000, ago(days=d, hours=2), user="u-1", agent="copilot") for d in (2, 1)]
        + [shop.event(customer, shop.images, 440, ago(hours=3), user="u-2")]
    )
    rate()  # commits: the rating batch's signal evaluates the alerts
    assert Alert.objects.filter(customer=customer, kind=Kind.INCLUDED_USAGE, threshold=90, state="open").exists()
    runs_out = wallet_runway(customer_id=customer.pk).runs_out_at
    assert runs_out is not None

    page = new_page("am", PASSWORD)
    page.goto("/customers/")
    page.click("text=Near Limit Co")
    page.wait_for_selector("#panel-consumption .meter-bar")
    page.click("text=Open the consumption dashboard")
    page.wait_for_url("**/dashboards/customers/near-limit/")
    alerts = page.locator("#customer-alerts")
    alerts.locator(".customer-alert").first.wait_for()
    text = alerts.inner_text()
    assert "Included usage crossed" in text and "90 %" in text and "threshold 90 %" in text
    assert f"runs out {runs_out:%b %-d, %Y}" in page.locator("#run-out").inner_text()
    # the charts are drawn by plotly in the browser, the forecast annotated with the same date
    page.wait_for_selector("#chart-balance .main-svg")
    assert f"Runs out {runs_out:%b %-d, %Y}" in page.locator("#chart-balance").inner_text()
    page.wait_for_selector("#chart-included .main-svg")
    assert "92.0 %" in page.locator("#chart-included").inner_text()

    # acknowledging in place, with a note
    first = alerts.locator(".customer-alert").filter(has_text="Included usage crossed").filter(has_text="90 %")
    first.locator("input[name=note]").fill("Upsell call booked for Monday")
    first.locator("button:has-text('Acknowledge')").click()
    page.wait_for_selector("text=Upsell call booked for Monday")
    assert Alert.objects.get(customer=customer, kind=Kind.INCLUDED_USAGE, threshold=90).state == "acknowledged"


def test_owner_sees_a_below_cost_meter_flagged_on_the_margin_page(new_page, actors):
    shop = Shop(actors, usd_token_price="0.000005")  # tokens sold at half of what they cost us
    customer = shop.customer("cheap-co", billing_model="postpaid", enforcement="unlimited")
    ingest(
        [shop.event(customer, shop.tokens, 200_000, ago(hours=5)), shop.event(customer, shop.images, 10, ago(hours=5))]
    )
    rate()

    page = new_page("owner", PASSWORD)
    page.click("nav >> text=Margin")
    page.wait_for_url("**/dashboards/margin/")
    banner = page.locator("#below-cost").inner_text()
    assert "Below cost" in banner and shop.tokens.code in banner and "-100.0 %" in banner
    row = page.locator("#margin-rows tr.below-cost")
    assert row.count() == 1 and shop.tokens.code in row.inner_text() and "below cost" in row.inner_text()
    page.wait_for_selector("#chart-heatmap .main-svg")
    # the drill-down goes to "why this charge" for that customer, meter and day
    row.locator(f"a:has-text('{shop.tokens.code}')").click()
    page.wait_for_url(f"**/usage/customers/cheap-co/**/{shop.tokens.code}/")
