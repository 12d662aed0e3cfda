#!/usr/bin/env python3
"""Latency of listing applications with many applications in the store.

Usage: admin_list_latency.py BASE_URL ACCESS_TOKEN [APPLICATIONS] [SAMPLES]
Creates buyer accounts and applications through the Account Management API until the tenant has
APPLICATIONS applications (default 10000), then times SAMPLES sequential requests (default 300) of
GET /admin/api/applications.json (first page: 500 applications) and of one account's list, and prints
p50/p90/p99/max in milliseconds.
"""
import json, statistics, sys, time, urllib.request, urllib.parse

base, token = sys.argv[1], sys.argv[2]
target = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
samples = int(sys.argv[4]) if len(sys.argv) > 4 else 300

def call(method, path, body=None):
    url = f"{base}{path}{'&' if '?' in path else '?'}access_token={token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")

def count_apps():
    n, page = 0, 1
    while True:
        apps = call("GET", f"/admin/api/applications.json?page={page}&per_page=500")["applications"]
        if not apps:
            return n
        n += len(apps); page += 1

plan_id = call("GET", "/admin/api/application_plans.json")["plans"][0]["application_plan"]["id"]
have = count_apps()
start = time.time()
account_id = None
while have < target:
    if account_id is None or have % 100 == 0:
        account_id = call("POST", "/admin/api/signup.json", {"org_name": f"bench-{have}", "username": f"bench-{have}-{time.time_ns()}"})["account"]["id"]
        have += 1  # signup creates one application on the default plan
        continue
    call("POST", f"/admin/api/accounts/{account_id}/applications.json", {"name": f"app-{have}", "plan_id": plan_id})
    have += 1
print(f"applications in store: {count_apps()} (created in {time.time() - start:.1f} s)")

def measure(path):
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        call("GET", path)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    q = lambda p: times[min(len(times) - 1, int(len(times) * p))]
    return f"p50 {q(0.50):.1f} ms  p90 {q(0.90):.1f} ms  p99 {q(0.99):.1f} ms  max {times[-1]:.1f} ms  ({samples} sequential requests)"

print("GET /admin/api/applications.json (500 per page):", measure("/admin/api/applications.json"))
print(f"GET /admin/api/accounts/{account_id}/applications.json:", measure(f"/admin/api/accounts/{account_id}/applications.json"))
