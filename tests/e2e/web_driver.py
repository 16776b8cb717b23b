"""web_driver.py — drives the review page in Debian's headless Chromium
through chromedriver's WebDriver protocol (the standard library only: no
Selenium, no npm), against a real `dovetail serve`. Called by web_test.sh.

    web_driver.py DRIVER_URL PAGE_URL REVIEWER_TOKEN ARTIFACT_DIR

Prints one line per check, "ok    ..." or "FAIL  ...", and keeps
screenshots in ARTIFACT_DIR. A check asserts what a person would see or do:
sign in, the queue in doubt order, a decision by key that the server
records (the API is asked, not the page), a refused finding step shown as
refused, an automated accessibility check, and page load and decision
round-trip times.
"""
import base64
import json
import os
import sys
import time
import urllib.request

DRIVER, PAGE, TOKEN, ART = sys.argv[1:5]
AUDITOR = sys.argv[5] if len(sys.argv) > 5 else None
passed = failed = 0
timings = {}


def ok(what):
    global passed
    passed += 1
    print("ok    " + what, flush=True)


def bad(what, why=""):
    global failed
    failed += 1
    print("FAIL  " + what + ("\n      " + str(why)[:400] if why else ""), flush=True)


def wd(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(DRIVER + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"{}").get("value")


def api(method, path, body=None, purpose="test"):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(PAGE.rstrip("/") + path, data=data, method=method, headers={
        "Authorization": "Bearer " + TOKEN, "Dovetail-Purpose": purpose,
        "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:loggingPrefs": {"browser": "ALL"},
                                         "goog:chromeOptions": {
    "binary": "/usr/bin/chromium",
    "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,800",
             "--disable-dev-shm-usage"]}}}}
session = wd("POST", "/session", caps)["sessionId"]
S = "/session/" + session


def js(script, *args):
    return wd("POST", S + "/execute/sync", {"script": script, "args": list(args)})


def find(css):
    v = wd("POST", S + "/element", {"using": "css selector", "value": css})
    return list(v.values())[0]


def wait(script, timeout=15.0, *args):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = js(script, *args)
        if v:
            return v
        time.sleep(0.05)
    return None


def shot(name):
    png = base64.b64decode(wd("GET", S + "/screenshot"))
    with open(ART + "/" + name, "wb") as f:
        f.write(png)


def press(key):
    wd("POST", S + "/actions", {"actions": [{"type": "key", "id": "kb", "actions": [
        {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]}]})
    wd("DELETE", S + "/actions")


try:
    # ---- the page loads, with no error, and asks for a token --------------------
    t0 = time.time()
    wd("POST", S + "/url", {"url": PAGE})
    wait("return document.readyState === 'complete'")
    timings["page_load_ms"] = round((time.time() - t0) * 1000, 1)
    errors = wd("POST", S + "/se/log", {"type": "browser"}) or []
    severe = [e for e in errors if e.get("level") == "SEVERE"]
    if js("return !document.getElementById('signin').hidden") and not severe:
        ok("the page loads with no error and asks for a token (%.0f ms)" % timings["page_load_ms"])
    else:
        bad("page load", severe)
    shot("signin.png")

    # ---- a wrong token is refused, and says so ------------------------------------------
    wd("POST", S + "/element/" + find("#token") + "/value", {"text": "dt_not-a-token"})
    wd("POST", S + "/element/" + find("#purpose") + "/value", {"text": "test"})
    wd("POST", S + "/element/" + find("#signin-form button") + "/click", {})
    msg = wait("var t = document.getElementById('signin-error').textContent; return t || null")
    if msg and "401" in msg and js("return document.getElementById('review').hidden"):
        ok("a wrong token is refused on the page: " + msg[:60])
    else:
        bad("wrong token", msg)

    # ---- sign in: the queue, most doubtful first ----------------------------------------
    wd("POST", S + "/element/" + find("#token") + "/clear", {})
    wd("POST", S + "/element/" + find("#token") + "/value", {"text": TOKEN})
    wd("POST", S + "/element/" + find("#signin-form button") + "/click", {})
    n = wait("return document.querySelectorAll('#queue li').length || null")
    truth = api("GET", "/v1/review/queue?limit=200")["pairs"]
    shown = js("return Array.from(document.querySelectorAll('#queue li button')).map(b => b.textContent)")
    if n and shown == [p["a"] + " ~ " + p["b"] for p in truth]:
        ok("signed in: the queue shows the server's %d pairs in its order" % n)
    else:
        bad("queue after sign in", (n, shown[:2] if shown else None, truth[:2]))

    # ---- a pair: side by side, with its waterfall ---------------------------------------------
    rows = wait("return document.querySelectorAll('#rows tbody tr').length || null")
    bars = js("return document.querySelectorAll('#waterfall rect').length")
    band = js("return document.getElementById('band').textContent")
    effect = js("return document.getElementById('effect').textContent")
    want = ("'same' merges the two" if truth[0]["entity_a"] != truth[0]["entity_b"]
            else "'not the same' splits it")
    if rows and bars == rows and band.startswith("Band: ") and "compared because they share [" in band \
            and want in effect:
        ok("the first pair: %d comparisons side by side, a bar each in the waterfall, its "
           "blocking rule, and what a decision would do" % rows)
    else:
        bad("pair view", (rows, bars, band, effect))
    shot("pair.png")

    # ---- j moves, n decides "not the same": the server has it, the pair leaves ------------------
    press("j")
    wait("return document.querySelector('#queue li[aria-current=true]') === "
         "document.querySelectorAll('#queue li')[1]")
    target = truth[1]
    t0 = time.time()
    press("n")
    out = wait("var t = document.getElementById('outcome').textContent;"
               "return t.indexOf('Not the same') === 0 ? t : null")
    timings["decision_round_trip_ms"] = round((time.time() - t0) * 1000, 1)
    after = api("GET", "/v1/review/queue?limit=200")["pairs"]
    gone = all(not (p["a"] == target["a"] and p["b"] == target["b"]) for p in after)
    print("decided %s %s" % (target["a"], target["b"]), flush=True)
    if out and gone and len(after) == len(truth) - 1:
        ok("j then n: '%s' recorded by the server, the pair left the queue (%.0f ms)"
           % (out[:50], timings["decision_round_trip_ms"]))
    else:
        bad("decide by key", (out, gone, len(after), len(truth)))
    shot("decided.png")

    # ---- y joins: the two records' entities are one -------------------------------------------
    cur = js("var li = document.querySelector('#queue li[aria-current=true] button');"
             "return li ? li.textContent : null")
    press("y")
    out = wait("var t = document.getElementById('outcome').textContent;"
               "return t.indexOf('Same person') === 0 ? t : null")
    ents = out.split(" is in ")[1].split(", ")[0] if out else None
    ents2 = out.rsplit(" in ", 1)[1].rstrip(".") if out else None
    if out and ents and ents == ents2:
        ok("y: 'same person' puts both records in one entity (%s)" % ents)
    else:
        bad("decide same", (cur, out))

    # ---- findings: a step the state machine forbids is refused, and says so ---------------
    wd("POST", S + "/element/" + find("#tab-findings") + "/click", {})
    panes = js("return ['links', 'findings', 'disclosures'].filter("
               "id => document.getElementById(id).getBoundingClientRect().height > 0)")
    if panes == ["findings"]:
        ok("the findings tab shows the findings pane alone")
    else:
        bad("tabs", panes)
    first = wait("var b = document.querySelector('#finding-list li button'); return b ? b.textContent : null")
    wd("POST", S + "/element/" + find("#finding-list li button") + "/click", {})
    wait("return document.getElementById('finding-steps').children.length || null")
    lw = js("return Array.from(document.querySelectorAll('#finding-links svg'))"
            ".map(s => s.querySelectorAll('rect').length)")
    if lw and all(n > 0 for n in lw):
        ok("a finding shows each of its %d links with its waterfall" % len(lw))
    else:
        bad("finding links", lw)
    wd("POST", S + "/element/" + find("#contest") + "/click", {})
    refused = wait("var t = document.getElementById('finding-outcome').textContent;"
                   "return t.indexOf('Refused') === 0 ? t : null")
    if first and refused and "409" in refused:
        ok("a finding: contest before notice is refused on the page (%s)" % refused[:70])
    else:
        bad("refused step", (first, refused))
    wd("POST", S + "/element/" + find("#reason") + "/value", {"text": "payments confirmed"})
    wd("POST", S + "/element/" + find("#verify") + "/click", {})
    done = wait("var t = document.getElementById('finding-outcome').textContent;"
                "return t.indexOf('verify: the finding is now verified') === 0 ? t : null")
    steps = js("return Array.from(document.querySelectorAll('#finding-steps li')).map(l => l.textContent)")
    if done and any(" verify by " in s and s.endswith("→ verified: payments confirmed") for s in steps):
        ok("verify with a reason: the finding is verified, the step in its history")
    else:
        bad("verify on the page", (done, steps))
    shot("finding.png")
    states = []
    for action, reason in (("notify", ""), ("contest", "the person says the payments were theirs"),
                           ("dismiss", "payments were to the survivor")):
        if reason:
            wd("POST", S + "/element/" + find("#reason") + "/value", {"text": reason})
        wd("POST", S + "/element/" + find("#" + action) + "/click", {})
        got = wait("var t = document.getElementById('finding-outcome').textContent;"
                   "return t.indexOf(arguments[0] + ': the finding is now') === 0 ? t : null",
                   15.0, action)
        states.append(got.split("now ")[1].rstrip(".") if got else None)
    if states == ["notified", "contested", "dismissed"]:
        ok("the finding on through notify, contest and dismiss: " + " -> ".join(states))
    else:
        bad("finding states", states)

    # ---- an automated accessibility check ---------------------------------------------------
    problems = js(open(sys.argv[0].replace("web_driver.py", "a11y_check.js")).read())
    if problems == []:
        ok("accessibility: labels, names, lang, headings and contrast (a11y_check.js) hold")
    else:
        bad("accessibility", problems)

    # ---- a tablet: the panes stack, nothing wider than the screen ------------------------
    wd("POST", S + "/window/rect", {"width": 800, "height": 1100})
    wd("POST", S + "/element/" + find("#tab-links") + "/click", {})
    wide = js("return document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot("tablet.png")
    if wide:
        ok("at 800 wide (a tablet) the page needs no sideways scrolling")
    else:
        bad("tablet width")
    # ---- an auditor: the decided record's disclosures, one click away ----------------------
    if AUDITOR:
        wd("POST", S + "/window/rect", {"width": 1280, "height": 800})
        wd("POST", S + "/element/" + find("#signout") + "/click", {})
        wait("return !document.getElementById('signin').hidden")
        wd("POST", S + "/element/" + find("#token") + "/value", {"text": AUDITOR})
        wd("POST", S + "/element/" + find("#purpose") + "/value", {"text": "oversight"})
        wd("POST", S + "/element/" + find("#signin-form button") + "/click", {})
        wait("return !document.getElementById('disclosures').hidden")
        wd("POST", S + "/element/" + find("#disc-record") + "/value", {"text": target["a"]})
        wd("POST", S + "/element/" + find("#disc-form button") + "/click", {})
        got = wait("var t = document.getElementById('disc-outcome').textContent; return t || null")
        actions = js("return Array.from(document.querySelectorAll('#disc-rows tbody tr'))"
                     ".map(r => r.children[4].textContent)")
        shot("disclosures.png")
        shown = js("return ['links', 'findings', 'disclosures'].filter("
                   "id => document.getElementById(id).getBoundingClientRect().height > 0)")
        if got and "review.decide" in (actions or []) and shown == ["disclosures"] and \
                js("return document.getElementById('tab-links').getBoundingClientRect().height == 0"):
            ok("an auditor signs in to disclosures only and sees the decision on %s: %s"
               % (target["a"], ", ".join(sorted(set(actions)))))
        else:
            bad("auditor disclosures", (got, actions, shown))

    # ---- the linkage report (dovetail link --report) opens, every chart drawn ----------
    for k, report in enumerate(os.environ.get("REPORTS", "").split()):
        wd("POST", S + "/window/rect", {"width": 1280, "height": 2400})
        wd("POST", S + "/se/log", {"type": "browser"})  # drains the page's own (a 401, a 409)
        wd("POST", S + "/url", {"url": "file://" + report})
        wait("return document.readyState === 'complete'")
        errors = [e for e in (wd("POST", S + "/se/log", {"type": "browser"}) or [])
                  if e.get("level") == "SEVERE"]
        charts = js("return Array.from(document.querySelectorAll('svg.chart')).map(s => "
                    "s.querySelectorAll('rect').length + (s.textContent.indexOf('no data') >= 0 ? 1 : 0))")
        drawn = js("return Array.from(document.querySelectorAll('svg.chart rect'))"
                   ".filter(r => r.getBoundingClientRect().width > 0).length")
        shot("report%d.png" % k)
        if not errors and charts and all(c > 0 for c in charts) and drawn > 0:
            ok("%s opens with no error, its %d charts drawn (%d bars)"
               % (os.path.basename(report), len(charts), drawn))
        else:
            bad("report", (errors, charts, drawn))
finally:
    wd("DELETE", S)

print("timings " + json.dumps(timings))
print("web: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
