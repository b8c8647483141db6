#!/usr/bin/env python3
"""capture-netbox-fixtures.py - capture what the product reads of a real NetBox for per-device
configuration, as test fixtures (tests/fixtures/netbox-4.7-rest/).

Against a running NetBox (infra/netbox-up.sh; NB_URL and NB_TOKEN in the environment) it creates,
with a unique suffix: a region tree (Europe > Netherlands), a site group, a site in both, a
location, a device type, role and platform, two custom fields on devices (`zabbix_templates`,
`owner`), a config context assigned by region whose `zabbix` key asks for an SNMPv3 and an agent
interface, two macros (one secret by reference) and a PSK by reference, and a device with a
primary and an out-of-band IP. Then it reads the device back exactly as nzj's NetBox client does
(the same `fields`), and the site, region and site group lists, and writes them as fixtures.
It also captures, with a listener and a webhook of its own (secret `s3cret`), the deliveries
NetBox sends when only the product's write-back custom fields change (one object, and in bulk)
and when a person's change rides in the same PATCH: the loop guard's fixtures (`write_back_*`).
Run it again for a new NetBox version; the fixtures' ids and names change, the shapes are NetBox's.
Only the standard library: it runs on any python3.
"""

import hashlib
import hmac
import http.server
import json
import os
import socket
import sys
import threading
import time
import urllib.request

URL = os.environ["NB_URL"].rstrip("/")
TOKEN = os.environ["NB_TOKEN"]
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "netbox-4.7-rest")
# The fields nzj's NetBox client asks for (shared/netbox/src/client.rs: FIELDS + a device's own).
FIELDS = "id,name,status,site,role,platform,tenant,device_type,cluster,tags,primary_ip4,primary_ip6,serial,asset_tag,config_context,custom_fields,oob_ip,location"
AUTH = f"Bearer {TOKEN}" if TOKEN.startswith("nbt_") else f"Token {TOKEN}"
SUFFIX = str(int(time.time()) % 100000)
# NetBox refuses an address it has: a host number of this run's own.
HOST = int(SUFFIX) % 250 + 2


def call(method, path, body=None):
    request = urllib.request.Request(
        URL + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": AUTH, "Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        sys.exit(f"{method} {path}: HTTP {e.code}: {e.read()[:500]!r}")


def create(path, body):
    return call("POST", path, body)["id"]


def ensure_custom_field(name, label, kind="text"):
    found = call("GET", f"/api/extras/custom-fields/?name={name}")["results"]
    if not found:
        create("/api/extras/custom-fields/", {"name": name, "label": label, "type": kind, "object_types": ["dcim.device"]})


def capture_write_back_deliveries(device, other):
    """The deliveries NetBox sends for the product's write-back (its own custom fields only, one
    object and in bulk) and for a user's change made in the same PATCH: the loop guard's fixtures."""
    ensure_custom_field("zabbix_hostid", "Zabbix host id", "integer")
    ensure_custom_field("zabbix_sync_state", "Zabbix sync state")
    ensure_custom_field("zabbix_checked_at", "Zabbix state since")
    ensure_custom_field("zabbix_url", "Zabbix host", "url")
    received = []

    class Listener(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, self.headers.get("X-Hook-Signature", "")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = http.server.HTTPServer(("127.0.0.1", port), Listener)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = create("/api/extras/webhooks/", {
        "name": f"capture-{SUFFIX}", "payload_url": f"http://127.0.0.1:{port}/", "http_method": "POST",
        "http_content_type": "application/json", "secret": "s3cret"})
    rule = create("/api/extras/event-rules/", {
        "name": f"capture-{SUFFIX}", "object_types": ["dcim.device"], "event_types": ["object_updated"],
        "action_type": "webhook", "action_object_type": "extras.webhook", "action_object_id": hook})
    ours = {"zabbix_hostid": 10681, "zabbix_sync_state": "in_sync", "zabbix_checked_at": "2026-12-05T10:00:00Z"}
    steps = [
        ("write_back_only", lambda: call("PATCH", f"/api/dcim/devices/{device}/", {"custom_fields": ours}), 1),
        ("write_back_and_user_change", lambda: call("PATCH", f"/api/dcim/devices/{device}/", {
            "description": "changed by a person", "custom_fields": {"zabbix_sync_state": "failed"}}), 1),
        ("write_back_bulk", lambda: call("PATCH", "/api/dcim/devices/", [
            {"id": device, "custom_fields": {"zabbix_sync_state": "out_of_sync"}},
            {"id": other, "custom_fields": ours}]), 2),
    ]
    fixtures = {}
    try:
        for name, change, count in steps:
            start = len(received)
            change()
            deadline = time.time() + 60
            while len(received) < start + count and time.time() < deadline:
                time.sleep(0.2)
            if len(received) < start + count:
                sys.exit(f"{name}: NetBox sent {len(received) - start} of {count} deliveries (is its rqworker running?)")
            for i, (body, signature) in enumerate(received[start:start + count]):
                expected = hmac.new(b"s3cret", body, hashlib.sha512).hexdigest()
                assert signature == expected, f"{name}: signature {signature!r} is not the body's"
                fixtures[f"{name}_{i}.body.json" if count > 1 else f"{name}.body.json"] = body
    finally:
        call("DELETE", f"/api/extras/event-rules/{rule}/")
        call("DELETE", f"/api/extras/webhooks/{hook}/")
        server.shutdown()
    return fixtures


def mine(page, ids):
    """A list page kept to this run's objects (a NetBox used before holds others)."""
    results = [r for r in page["results"] if r["id"] in ids]
    return {**page, "count": len(results), "results": results}


def main():
    europe = create("/api/dcim/regions/", {"name": f"Europe {SUFFIX}", "slug": f"europe-{SUFFIX}"})
    netherlands = create(
        "/api/dcim/regions/", {"name": f"Netherlands {SUFFIX}", "slug": f"netherlands-{SUFFIX}", "parent": europe}
    )
    group = create("/api/dcim/site-groups/", {"name": f"Colo {SUFFIX}", "slug": f"colo-{SUFFIX}"})
    site = create(
        "/api/dcim/sites/",
        {"name": f"AMS {SUFFIX}", "slug": f"ams-{SUFFIX}", "status": "active", "region": netherlands, "group": group},
    )
    location = create("/api/dcim/locations/", {"name": f"Hall {SUFFIX}", "slug": f"hall-{SUFFIX}", "site": site})
    maker = create("/api/dcim/manufacturers/", {"name": f"Acme {SUFFIX}", "slug": f"acme-{SUFFIX}"})
    dtype = create("/api/dcim/device-types/", {"manufacturer": maker, "model": f"SW-{SUFFIX}", "slug": f"sw-{SUFFIX}"})
    role = create("/api/dcim/device-roles/", {"name": f"Switch {SUFFIX}", "slug": f"switch-{SUFFIX}", "color": "2196f3"})
    platform = create("/api/dcim/platforms/", {"name": f"AcmeOS {SUFFIX}", "slug": f"acmeos-{SUFFIX}"})
    ensure_custom_field("zabbix_templates", "Zabbix templates")
    ensure_custom_field("owner", "Owner")
    # Group-level: every device in the region gets these interfaces, macros and PSK.
    context = create(
        "/api/extras/config-contexts/",
        {
            "name": f"zabbix-netherlands-{SUFFIX}",
            "weight": 1000,
            "regions": [netherlands],
            "data": {
                "zabbix": {
                    "interfaces": [
                        {"type": "snmpv3", "securityname": "{$SNMPV3_USER}", "securitylevel": "authPriv",
                         "authprotocol": "SHA256", "authpassphrase": "{$SNMPV3_AUTH}",
                         "privprotocol": "AES256", "privpassphrase": "{$SNMPV3_AUTH}"},
                        {"type": "agent"},
                        {"type": "ipmi", "address": "oob"},
                    ],
                    "macros": {
                        "{$SNMPV3_USER}": "monitor",
                        "{$SNMPV3_AUTH}": {"secret": "snmpv3/auth"},
                    },
                    "tls": {"connect": "psk", "accept": ["psk"], "psk_identity": "psk/id", "psk": "psk/key"},
                    "host_groups": ["{{ regions | join('/') }}/{{ site }}"],
                    "visible_name": "{name} ({{ location }})",
                    "inventory": {"contact": "{{ custom_fields.owner }}", "location": "{{ site }} / {{ location }}"},
                },
                "ntp_servers": ["192.0.2.123"],
            },
        },
    )
    device = create(
        "/api/dcim/devices/",
        {
            "name": f"sw-ams-{SUFFIX}", "device_type": dtype, "role": role, "site": site, "location": location,
            "platform": platform, "status": "active", "serial": f"SN{SUFFIX}",
            "custom_fields": {"zabbix_templates": "Generic by SNMP", "owner": "netops"},
        },
    )
    mgmt = create("/api/dcim/interfaces/", {"device": device, "name": "mgmt0", "type": "1000base-t"})
    bmc = create("/api/dcim/interfaces/", {"device": device, "name": "bmc", "type": "1000base-t", "mgmt_only": True})
    ip = create(
        "/api/ipam/ip-addresses/",
        {"address": f"198.51.100.{HOST}/24", "dns_name": "sw-ams.example.net",
         "assigned_object_type": "dcim.interface", "assigned_object_id": mgmt},
    )
    oob = create(
        "/api/ipam/ip-addresses/",
        {"address": f"203.0.113.{HOST}/24", "assigned_object_type": "dcim.interface", "assigned_object_id": bmc},
    )
    call("PATCH", f"/api/dcim/devices/{device}/", {"primary_ip4": ip, "oob_ip": oob})
    device_before = call("GET", f"/api/dcim/devices/{device}/?fields={FIELDS}")

    other = create("/api/dcim/devices/", {
        "name": f"sw-ams-b-{SUFFIX}", "device_type": dtype, "role": role, "site": site, "status": "active"})
    deliveries = capture_write_back_deliveries(device, other)

    os.makedirs(OUT, exist_ok=True)
    for name, body in deliveries.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(body)
    # The device as it was before the write-back deliveries changed its custom fields.
    captured = {
        "device_with_config_context.json": device_before,
        "sites.json": mine(call("GET", "/api/dcim/sites/?fields=id,region,group&ordering=id&limit=1000&offset=0"), {site}),
        "regions.json": mine(
            call("GET", "/api/dcim/regions/?fields=id,name,parent&ordering=id&limit=1000&offset=0"), {europe, netherlands}
        ),
        "site-groups.json": mine(
            call("GET", "/api/dcim/site-groups/?fields=id,name,parent&ordering=id&limit=1000&offset=0"), {group}
        ),
    }
    for name, body in captured.items():
        with open(os.path.join(OUT, name), "w") as f:
            json.dump(body, f, indent=2, sort_keys=True)
            f.write("\n")
    # The devices name secrets no product here holds: leave NetBox as it was for other tests.
    for path in [f"/api/dcim/devices/{device}/", f"/api/dcim/devices/{other}/", f"/api/extras/config-contexts/{context}/"]:
        call("DELETE", path)
    print(f"device {device} captured into {OUT}")


if __name__ == "__main__":
    main()
