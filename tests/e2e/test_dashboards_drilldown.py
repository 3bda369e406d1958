"""Issue 13, items 7, 8 and 11: today is on the charts up to now, heatmap cells drill down to "why this charge",
and one nav entry is active on the Margin page."""

from datetime import UTC, datetime

from apps.alerts.models import Alert
from tests.alerts.builders import Shop, ago, ingest, rate
from tests.conftest import PASSWORD


def test_a_click_on_a_heatmap_cell_opens_why_this_charge_for_that_customer_and_meter(new_page, actors):
    shop = Shop(actors)
    customer = shop.customer("drill-co", billing_model="postpaid", enforcement="unlimited")
    ingest([shop.event(customer, shop.images, 10, ago(hours=5))])
    rate()

    page = new_page("owner", PASSWORD)
    page.goto("/dashboards/margin/")
    assert page.locator("header nav a.active").all_inner_texts() == ["Margin"]
    page.wait_for_selector("#chart-heatmap .main-svg")
    page.wait_for_selector("#chart-heatmap .drillable")
    box = page.locator("#chart-heatmap .nsewdrag").first.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # the only cell fills the plot
    page.wait_for_url(f"**/usage/customers/drill-co/**/{shop.images.code}/")
    assert shop.images.code in page.locator("main").inner_text()


def test_the_charts_show_today_up_to_now_with_alerts_fired_after_midday(new_page, users, actors):
    shop = Shop(actors)
    customer = shop.customer("late-co", credits="3000", manager=users["am"], allowances={shop.tokens: 1_000_000})
    ingest([shop.event(customer, shop.tokens, 950_000, ago(minutes=30))])
    rate()
    alert = Alert.objects.filter(customer=customer).order_by("-fired_at").first()
    assert alert is not None

    page = new_page("am", PASSWORD)
    page.goto("/dashboards/customers/late-co/")
    page.wait_for_selector("#chart-alerts .main-svg")
    end = page.evaluate("document.querySelector('#chart-alerts .dash-plot')._fullLayout.xaxis.range[1]")
    shown_until = datetime.fromisoformat(end.replace(" ", "T")).replace(tzinfo=UTC)
    assert shown_until >= alert.fired_at  # the whole of today is on the axis, so is an alert fired at any hour
    assert shown_until.hour == 0 and shown_until.date() > alert.fired_at.date()
