"""The web UI in a real browser: headless Chromium (Debian) driven by selenium, against a live
`ariadne serve` filled by `ariadne loadgen`. Every view is checked against the API and saved
as a screenshot in the folder named by ARIADNE_UI_SCREENSHOTS (default .build/ui-screenshots).
"""

import json
import os
import random
import subprocess
import tempfile
import time

import pytest
import requests

from conftest import BINARY, ROOT, STORES, Server, store_args

os.environ.setdefault("SE_OFFLINE", "true")
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

SHOTS = os.environ.get("ARIADNE_UI_SCREENSHOTS", os.path.join(ROOT, ".build", "ui-screenshots"))


@pytest.fixture(scope="module", params=STORES)
def filled(request):
    s = Server(store_args(request.param))
    out = subprocess.run(
        [BINARY, "loadgen", "--endpoint", s.grpc, "--spans", "4000", "--seed", "7"],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    # Wait until search sees what loadgen sent.
    deadline = time.time() + 10
    while time.time() < deadline and not s.get_json("/api/search?limit=5")["traces"]:
        time.sleep(0.1)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser():
    os.makedirs(SHOTS, exist_ok=True)
    print(f"\nui: screenshots in {SHOTS}")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,800"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_window_size(1280, 800)
    yield driver
    driver.quit()


def wait(driver, condition, timeout=10):
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: condition(d))


def search_done(driver):
    """Waits for the results of the address now shown (not those of the previous search)."""
    wait(driver, lambda d: d.execute_script(
        "const r = document.getElementById('results'); return !!r && r.dataset.hash === location.hash"))
    return driver.find_elements(By.CSS_SELECTOR, ".trace-item")


def shot(driver, name):
    driver.save_screenshot(os.path.join(SHOTS, f"{name}.png"))


def console_errors(driver):
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_search_trace_critical_path_detail_compare_map(filled, browser):
    d = browser
    d.get(filled.url("/"))
    wait(d, lambda d: d.find_elements(By.ID, "search-service"))
    # "/" focuses the search form.
    d.find_element(By.TAG_NAME, "body").send_keys("/")
    assert d.switch_to.active_element.get_attribute("id") == "search-service"

    Select(d.find_element(By.ID, "search-service")).select_by_visible_text("api-gateway")
    Select(d.find_element(By.ID, "search-lookback")).select_by_value("1h")
    d.find_element(By.ID, "search-limit").clear()
    d.find_element(By.ID, "search-limit").send_keys("15")
    d.find_element(By.ID, "search-submit").click()
    items = search_done(d)
    shown = [i.get_attribute("data-trace-id") for i in items]
    api = filled.get_json("/api/search?service=api-gateway&limit=15")["traces"]
    assert shown == [t["traceID"] for t in api]
    assert len(d.find_elements(By.CSS_SELECTOR, "#scatter circle")) == len(api)
    shot(d, "1-search")

    # Tags, a filter and a per-span duration become one filter on one span, as the API reads it.
    d.find_element(By.ID, "search-tags").send_keys("http.request.method=GET")
    d.find_element(By.ID, "search-filter").send_keys('span.server.port >= 80')
    d.find_element(By.ID, "search-minDuration").send_keys("1ms")
    d.find_element(By.ID, "search-submit").click()
    wait(d, lambda d: "minDuration=1ms" in d.current_url)
    filtered = [i.get_attribute("data-trace-id") for i in search_done(d)]
    q = '.http.request.method = "GET" && duration >= 1ms && (span.server.port >= 80)'
    expected = filled.get_json("/api/search?" + requests.compat.urlencode({"service": "api-gateway", "limit": 15, "q": q}))["traces"]
    assert filtered == [t["traceID"] for t in expected] and filtered
    assert console_errors(d) == []
    # A broken filter shows the server's message; the browser logs that 400 and nothing else.
    d.find_element(By.ID, "search-filter").send_keys(" &&")
    d.find_element(By.ID, "search-submit").click()
    wait(d, lambda d: "%26%26" in d.current_url or "&&" in d.current_url)
    search_done(d)
    assert "expected" in d.find_element(By.CSS_SELECTOR, "#results .error").text
    assert all("/api/search" in e["message"] and "400" in e["message"] for e in console_errors(d))
    for name in ("search-tags", "search-filter", "search-minDuration"):
        d.find_element(By.ID, name).clear()
    d.find_element(By.ID, "search-submit").click()
    wait(d, lambda d: "minDuration" not in d.current_url)
    search_done(d)

    # Open the trace with the most spans, as a user hunting a big one would.
    d.find_element(By.ID, "search-sort").send_keys("Most spans")
    Select(d.find_element(By.ID, "search-sort")).select_by_value("spans")
    d.find_element(By.ID, "search-submit").click()
    wait(d, lambda d: "sort=spans" in d.current_url)
    first = search_done(d)[0]
    trace_id = first.get_attribute("data-trace-id")
    assert trace_id == max(api, key=lambda t: (t["spanCount"], int(t["startTimeUnixNano"])))["traceID"]
    first.find_element(By.CSS_SELECTOR, "a.trace-title").click()
    wait(d, lambda d: d.find_elements(By.ID, "trace-span-count"))
    jaeger = filled.get_json(f"/api/traces/{trace_id}")["data"][0]
    assert d.find_element(By.ID, "trace-span-count").text == str(len(jaeger["spans"]))
    assert d.find_element(By.ID, "trace-id").text == trace_id
    shot(d, "2-trace-timeline")

    # Span detail: a child span's id, duration, status and attributes as the API has them.
    analysis = filled.get_json(f"/api/analysis/traces/{trace_id}")
    spans = {s["spanID"]: s for s in jaeger["spans"]}
    row = d.find_elements(By.CSS_SELECTOR, ".tl-row")[1]
    span_id = row.get_attribute("data-span-id")
    row.click()
    wait(d, lambda d: d.find_element(By.ID, "span-detail").is_displayed())
    assert d.find_element(By.ID, "detail-span-id").text == span_id
    api_span = spans[span_id]
    shown_attrs = dict(
        (r.find_element(By.TAG_NAME, "th").text, r.find_element(By.TAG_NAME, "td").text)
        for r in d.find_elements(By.CSS_SELECTOR, "#detail-attributes tr"))
    internal = ("span.kind", "otel.status_code", "otel.status_description", "otel.scope.name", "otel.scope.version", "error")
    api_attrs = {t["key"]: str(t["value"]).lower() if t["type"] == "bool" else str(t["value"])
                 for t in api_span["tags"] if t["key"] not in internal}
    assert shown_attrs == api_attrs
    assert d.find_element(By.ID, "detail-status").text.startswith(
        {"ERROR": "error", "OK": "ok"}.get(next((t["value"] for t in api_span["tags"] if t["key"] == "otel.status_code"), ""), "unset"))
    assert f"#/trace/{trace_id}?span={span_id}" in d.current_url  # the address is a deep link
    shot(d, "3-span-detail")
    d.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    wait(d, lambda d: not d.find_element(By.ID, "span-detail").is_displayed())

    # Critical path: the same segments as the API, in time order.
    d.find_element(By.ID, "tab-critical").click()
    rows = wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#critical-path tbody tr"))
    assert [r.get_attribute("data-span-id") for r in rows] == [c["spanID"] for c in analysis["criticalPath"]]
    on_path = {c["spanID"] for c in analysis["criticalPath"]}
    assert jaeger["spans"][0]["spanID"] in on_path or any(s["references"] == [] for s in jaeger["spans"])
    shot(d, "4-critical-path")

    d.find_element(By.ID, "tab-stats").click()
    stat_rows = wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#statistics tbody tr"))
    assert len(stat_rows) == len(analysis["statistics"])
    assert sum(int(r.find_elements(By.TAG_NAME, "td")[2].text) for r in stat_rows) == len(jaeger["spans"])
    shot(d, "5-statistics")

    d.find_element(By.ID, "tab-flame").click()
    flame = wait(d, lambda d: d.find_elements(By.ID, "flame"))[0]
    assert flame.size["height"] > 0
    shot(d, "6-flame-graph")

    # A deep link opens the trace with the span selected.
    d.get(filled.url(f"/#/trace/{trace_id}?span={span_id}"))
    d.refresh()
    wait(d, lambda d: d.find_elements(By.ID, "detail-span-id") and d.find_element(By.ID, "detail-span-id").text == span_id)

    # Compare: two results with the same root operation, through the list's checkboxes.
    d.get(filled.url("/#/search?service=api-gateway&lookback=1h&limit=15&searched=1"))
    search_done(d)
    by_root = {}
    for t in api:
        by_root.setdefault(t["rootTraceName"], []).append(t["traceID"])
    a, b = next(ids for ids in by_root.values() if len(ids) >= 2)[:2]
    for tid in (a, b):
        d.find_element(By.CSS_SELECTOR, f'.trace-item[data-trace-id="{tid}"] input[type=checkbox]').click()
    d.find_element(By.ID, "compare-selected").click()
    diff_rows = wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#diff-table tbody tr"))
    diff = filled.get_json(f"/api/analysis/compare?a={a}&b={b}")
    assert [r.get_attribute("data-change") for r in diff_rows] == [n["change"] for n in diff["nodes"]]
    shot(d, "7-compare")

    # Service map: every service and call edge the API reports.
    d.find_element(By.LINK_TEXT, "Service map").click()
    wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#service-map .node"))
    smap = filled.get_json("/api/analysis/service-map?lookback=1h")
    assert len(d.find_elements(By.CSS_SELECTOR, "#service-map .node")) == len(smap["nodes"])
    assert len(d.find_elements(By.CSS_SELECTOR, "#service-map .edge")) == len(smap["edges"]) > 0
    shot(d, "8-service-map")

    # Insights: the bottlenecks of the opened trace's endpoint and the error origins, as the API has them.
    root_op = filled.get_json(f"/api/analysis/traces/{trace_id}")["summary"]["rootTraceName"]
    d.get(filled.url("/#/insights?" + requests.compat.urlencode({"service": "api-gateway", "operation": root_op})))
    d.refresh()
    rows = wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#bottleneck-table tbody tr"))
    api_rows = filled.get_json("/api/analysis/bottlenecks?" + requests.compat.urlencode(
        {"service": "api-gateway", "operation": root_op, "lookback": "1h"}))["bottlenecks"]
    assert [r.find_element(By.TAG_NAME, "td").text for r in rows] == [f"{b['service']}: {b['operation']}" for b in api_rows]
    origins = filled.get_json("/api/analysis/error-origins?" + requests.compat.urlencode({"service": "api-gateway", "lookback": "1h"}))
    wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#error-origins h3"))
    assert len(d.find_elements(By.CSS_SELECTOR, "#origin-table tbody tr")) == len(origins["origins"])
    shot(d, "8b-insights")

    # Monitor: RED per service as the API counts it; a service opens its operations.
    d.get(filled.url("/#/monitor?lookback=1h"))
    d.refresh()
    rows = wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#red-table tbody tr"))
    red = filled.get_json("/api/analysis/red?lookback=1h")["services"]
    shown = {r.get_attribute("data-key"): int(r.find_element(By.CSS_SELECTOR, "td.calls").text) for r in rows}
    # The page read the rollups a moment before the test did: no more calls than the API has now.
    assert set(shown) == {s["service"] for s in red}
    assert all(0 < shown[s["service"]] <= s["calls"] for s in red)
    d.find_element(By.LINK_TEXT, "api-gateway").click()
    ops = wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#red-table tbody tr") if "service=api-gateway" in d.current_url else [])
    api_ops = filled.get_json("/api/analysis/red?service=api-gateway&lookback=1h")["operations"]
    wait(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#red-table tbody tr")) == len(api_ops))
    assert d.find_elements(By.CSS_SELECTOR, "#red-table svg.spark")
    wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#forecast-p95"))
    shot(d, "8c-monitor")

    # A Jaeger JSON file opens without being stored.
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        doc = filled.get_json(f"/api/traces/{trace_id}")
        # A trace the server has never seen: new ids throughout.
        fresh = "%032x" % random.getrandbits(128)
        for sp in doc["data"][0]["spans"]:
            sp["traceID"] = fresh
            for r in sp["references"]:
                r["traceID"] = fresh
        json.dump(doc, f)
    d.find_element(By.ID, "open-file").send_keys(f.name)
    wait(d, lambda d: d.find_elements(By.ID, "trace-span-count") and d.find_element(By.ID, "trace-id").text == fresh)
    assert d.find_element(By.ID, "trace-span-count").text == str(len(jaeger["spans"]))
    assert requests.get(filled.url(f"/api/traces/{fresh}"), timeout=5).status_code == 404
    os.unlink(f.name)
    shot(d, "9-opened-file")

    # A narrow window still reads: one column, the detail over the timeline.
    d.set_window_size(600, 900)
    d.get(filled.url(f"/#/trace/{trace_id}?span={span_id}"))
    d.refresh()
    wait(d, lambda d: d.find_elements(By.ID, "detail-span-id"))
    shot(d, "10-narrow")
    d.set_window_size(1280, 800)

    assert console_errors(d) == []


def big_trace(spans=10_000):
    """One trace of `spans` spans as OTLP JSON: a root fanning out over 12 services, four levels deep."""
    trace_id = "%032x" % random.getrandbits(128)
    start = time.time_ns() - 30_000_000_000
    out = []
    ids, depths = [], []
    for i in range(spans):
        p = (i - 1) // 8 if i else None
        depth = depths[p] + 1 if i else 0
        sid = "%016x" % (i + 1)
        # Children start after their parent and end before it: each level ends 100 µs earlier.
        begin = start + i * 10_000
        end = start + spans * 10_000 + 1_000_000 - depth * 100_000
        out.append((f"svc-{i % 12}", {
            "traceId": trace_id, "spanId": sid, "parentSpanId": ids[p] if i else "", "name": f"op-{i % 40}",
            "kind": 2, "startTimeUnixNano": str(begin), "endTimeUnixNano": str(end),
            "attributes": [{"key": "i", "value": {"intValue": str(i)}}],
            "status": {"code": 2 if i % 97 == 0 else 0},
        }))
        ids.append(sid)
        depths.append(depth)
    by_service = {}
    for svc, sp in out:
        by_service.setdefault(svc, []).append(sp)
    body = {"resourceSpans": [
        {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]},
         "scopeSpans": [{"scope": {"name": "ui-test"}, "spans": sps}]}
        for svc, sps in by_service.items()]}
    return trace_id, body


def test_ten_thousand_span_trace_opens_and_scrolls(filled, browser):
    trace_id, body = big_trace()
    r = requests.post(filled.url("/").replace(filled.query, filled.http) + "v1/traces", json=body, timeout=30)
    assert r.status_code == 200, r.text
    filled.wait_for_trace(trace_id, 10_000, timeout=20)
    d = browser
    d.get(filled.url("/#/search"))
    wait(d, lambda d: d.find_elements(By.ID, "search-service"))
    d.set_script_timeout(30)
    # Timed in the page: from the navigation to a drawn timeline, then from the top to the last row.
    opened_ms = d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const t0 = performance.now();
        location.hash = '#/trace/' + arguments[0];
        (function poll() {
          const count = document.getElementById('trace-span-count');
          if (count && count.textContent === '10000' && document.querySelector('.tl-row')) done(performance.now() - t0);
          else setTimeout(poll, 5);
        })();""", trace_id)
    shot(d, "11-big-trace-top")
    scrolled_ms = d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const scroller = document.getElementById('timeline');
        const t0 = performance.now();
        let step = 0;
        (function next() {
          step++;
          scroller.scrollTop = scroller.scrollHeight * step / 20;
          requestAnimationFrame(() => requestAnimationFrame(() => {
            if (step < 20) next();
            else done(performance.now() - t0);
          }));
        })();""")
    rows = d.find_elements(By.CSS_SELECTOR, ".tl-row")
    depth_first_last = d.execute_script("return [...document.querySelectorAll('.tl-row')].pop().dataset.spanId")
    shot(d, "12-big-trace-bottom")
    assert 0 < len(rows) < 200, "rows are virtualised: only those near the viewport exist"
    assert depth_first_last  # the bottom of the timeline is drawn
    figures = f"ui: 10000-span trace opened in {opened_ms:.0f} ms, scrolled top to bottom (20 steps) in {scrolled_ms:.0f} ms"
    print("\n" + figures)
    with open(os.path.join(SHOTS, "figures.txt"), "w") as f:
        f.write(figures + "\n")
    assert console_errors(d) == []


def test_links_out_of_the_ui(browser, tmp_path):
    """`ui.links` in the configuration file: trace, span and service links, variables URL-encoded."""
    config = tmp_path / "ui.yaml"
    config.write_text(
        "ui:\n"
        "  link_time_padding: 1s\n"
        "  links:\n"
        "    - {scope: trace, text: Trace logs, url: 'https://logs.example/q?trace=${traceId}&from=${startMs}&to=${endMs}'}\n"
        "    - {scope: span, text: Span logs, url: 'https://logs.example/q?span=${spanId}&op=${operation}'}\n"
        "    - {scope: service, text: Runbook, url: 'https://wiki.example/runbooks/${service}'}\n"
    )
    s = Server(extra_args=["--config", str(config)])
    try:
        trace_id = "%032x" % random.getrandbits(128)
        start_us = 1_750_000_000_000_000 + random.randrange(10**9)
        spans = [
            {"traceId": trace_id, "id": "00000000000000a1", "name": "GET /pay", "timestamp": start_us, "duration": 5000,
             "localEndpoint": {"serviceName": "pay & bill"}},
            {"traceId": trace_id, "id": "00000000000000a2", "parentId": "00000000000000a1", "name": "db query",
             "timestamp": start_us + 1000, "duration": 2000, "localEndpoint": {"serviceName": "ledger"}},
        ]
        r = requests.post(f"http://{s.zipkin}/api/v2/spans", json=spans, timeout=10)
        assert r.status_code == 202
        s.wait_for_trace(trace_id, 2)
        d = browser
        d.get(s.url(f"/#/trace/{trace_id}?span=00000000000000a2"))
        wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#trace-links a"))
        trace_link = d.find_element(By.CSS_SELECTOR, "#trace-links a")
        assert trace_link.text == "Trace logs"
        from_ms, to_ms = start_us // 1000 - 1000, (start_us + 5000 + 999) // 1000 + 1000
        assert trace_link.get_attribute("href") == f"https://logs.example/q?trace={trace_id}&from={from_ms}&to={to_ms}"
        wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#detail-span-links a"))
        assert d.find_element(By.CSS_SELECTOR, "#detail-span-links a").get_attribute("href") == (
            "https://logs.example/q?span=00000000000000a2&op=db%20query")
        assert d.find_element(By.CSS_SELECTOR, "#detail-service-links a").get_attribute("href") == (
            "https://wiki.example/runbooks/ledger")
        d.get(s.url(f"/#/trace/{trace_id}?span=00000000000000a1"))
        wait(d, lambda d: "pay" in d.find_element(By.ID, "detail-title").text)
        wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#detail-service-links a"))
        assert d.find_element(By.CSS_SELECTOR, "#detail-service-links a").get_attribute("href") == (
            "https://wiki.example/runbooks/pay%20%26%20bill")
        assert d.find_element(By.CSS_SELECTOR, "#trace-links a").get_attribute("target") == "_blank"
        shot(d, "links-out")
        assert not console_errors(d)
    finally:
        s.stop()

    # A template that is not http(s), or names an unknown variable, is refused with its line.
    bad = tmp_path / "bad.yaml"
    bad.write_text("ui:\n  links:\n    - {scope: trace, text: x, url: 'javascript:alert(1)'}\n"
                   "    - {scope: span, text: y, url: 'https://x/${secret}'}\n")
    out = subprocess.run([BINARY, "config", "validate", str(bad)], capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "3:" in out.stderr and "http:// or https://" in out.stderr
    assert "4:" in out.stderr and "unknown variable ${secret}" in out.stderr


def test_sign_in_with_an_api_key_and_out(browser, tmp_path):
    """A secured server's UI: the sign-in form takes an API key, the header shows who is signed in,
    and signing out returns to the form."""
    key = "ui-admin-key-0123456789"
    (tmp_path / "key").write_text(key)
    (tmp_path / "auth.yaml").write_text(
        "auth:\n  api_keys:\n    - {name: ops, key_file: key, tenant: shop, role: admin}\n")
    s = Server(extra_args=["--config", str(tmp_path / "auth.yaml")])
    try:
        d = browser
        d.delete_all_cookies()
        d.get(s.url("/"))
        wait(d, lambda d: d.find_elements(By.ID, "login-form"))
        d.find_element(By.ID, "login-credential").send_keys("wrong-key-123456789")
        d.find_element(By.ID, "login-submit").click()
        wait(d, lambda d: "401" in d.find_element(By.ID, "login-error").text)
        field = d.find_element(By.ID, "login-credential")
        field.clear()
        field.send_keys(key)
        d.find_element(By.ID, "login-submit").click()
        wait(d, lambda d: d.find_elements(By.ID, "whoami-user"))
        assert d.find_element(By.ID, "whoami-user").text == "ops · shop · admin"
        wait(d, lambda d: d.find_elements(By.ID, "search-service"))
        # The session is a cookie scripts cannot read.
        assert d.execute_script("return document.cookie") == ""
        shot(d, "signed-in")
        d.find_element(By.ID, "logout").click()
        wait(d, lambda d: d.find_elements(By.ID, "login-form"))
        assert not d.find_elements(By.ID, "whoami")
        d.get(s.url("/#/search"))
        wait(d, lambda d: d.find_elements(By.ID, "login-form"))
    finally:
        s.stop()


def test_sign_in_through_an_oidc_provider_with_pkce(browser, tmp_path):
    """The login page offers the provider's sign-in; the browser goes to the provider's form and
    comes back signed in (the server exchanged the code with its PKCE verifier and checked the ID
    token's signature from jwks_url, issuer, audience and nonce), on the page it started from."""
    from oidc_provider import Provider
    idp = Provider(str(tmp_path), "ariadne-ui", {"jane@example.com": {"ariadne_role": "viewer", "org": "shop", "groups": ["payments"]}})
    (tmp_path / "auth.yaml").write_text(
        "auth:\n  oidc:\n"
        f"    issuer: {idp.issuer}\n    audience: ariadne\n    jwks_url: {idp.issuer}/jwks\n    client_id: ariadne-ui\n"
        "    claims: {user: email, role: ariadne_role, teams: groups, tenant: org}\n"
        "teams:\n  payments: {services: [checkout]}\n")
    s = Server(extra_args=["--config", str(tmp_path / "auth.yaml")])
    try:
        d = browser
        d.delete_all_cookies()
        d.get(s.url("/#/monitor"))
        wait(d, lambda d: d.find_elements(By.ID, "login-oidc"))
        d.find_element(By.ID, "login-oidc").click()
        wait(d, lambda d: d.find_elements(By.ID, "idp-user"))
        assert d.current_url.startswith(idp.issuer + "/authorize")
        d.find_element(By.ID, "idp-user").send_keys("jane@example.com")
        d.find_element(By.ID, "idp-submit").click()
        wait(d, lambda d: d.find_elements(By.ID, "whoami-user"))
        assert d.find_element(By.ID, "whoami-user").text == "jane@example.com · shop · viewer"
        assert d.current_url == s.url("/#/monitor") and d.execute_script("return document.cookie") == ""
        shot(d, "signed-in-oidc")
        # The flow as the specification asks: S256 challenge, state and nonce out, the verifier back.
        auth, token = idp.authorize_requests[-1], idp.token_requests[-1]
        assert auth["code_challenge_method"] == "S256" and auth["state"] and auth["nonce"]
        assert auth["redirect_uri"] == s.url("/api/session/oidc/callback") and len(token["code_verifier"]) >= 43
        # A code's state is good once: the callback replayed is refused.
        r = requests.get(s.url(f"/api/session/oidc/callback?code=x&state={auth['state']}"), allow_redirects=False, timeout=10)
        assert r.status_code == 401 and "unknown or has expired" in r.text
        # Tokens for the API are verified with the keys fetched from jwks_url.
        good = idp.token({"aud": "ariadne", "email": "bot@example.com", "ariadne_role": "viewer", "org": "shop"})
        assert requests.get(s.url("/api/services"), headers={"Authorization": f"Bearer {good}"}, timeout=10).status_code == 200
        other = tmp_path / "other.pem"
        subprocess.run(["openssl", "genrsa", "-out", str(other), "2048"], check=True, capture_output=True)
        forged = idp.token({"aud": "ariadne", "ariadne_role": "admin", "org": "shop"}, key=str(other))
        assert requests.get(s.url("/api/services"), headers={"Authorization": f"Bearer {forged}"}, timeout=10).status_code == 401
    finally:
        s.stop()
        idp.stop()
