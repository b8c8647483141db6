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
Run it again for a new NetBox version; the fixtures' ids and names change, the shapes are NetBox's.
Only the standard library: it runs on any python3.
"""

import json
import os
import sys
import time
import urllib.request

URL = os.environ["NB_URL"].rstrip("/")
TOKEN = os.environ["NB_TOKEN"]
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "netbox-4.7-rest")
# The fields nzj's NetBox client asks for (shared/netbox/src/client.rs: FIELDS + a device's own).
FIELDS = "id,name,status,site,role,platform,tenant,device_type,cluster,tags,primary_ip4,primary_ip6,serial,asset_tag,config_context,custom_fields,oob_ip,location"
AUTH = f"Bearer {TOKEN}" if TOKEN.startswith("nbt_") else f"Token {TOKEN}"
SUFFIX = str(int(time.time()) % 100000)


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


def ensure_custom_field(name, label):
    found = call("GET", f"/api/extras/custom-fields/?name={name}")["results"]
    if not found:
        create("/api/extras/custom-fields/", {"name": name, "label": label, "type": "text", "object_types": ["dcim.device"]})


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
    create(
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
        {"address": "198.51.100.20/24", "dns_name": "sw-ams.example.net",
         "assigned_object_type": "dcim.interface", "assigned_object_id": mgmt},
    )
    oob = create(
        "/api/ipam/ip-addresses/",
        {"address": "203.0.113.20/24", "assigned_object_type": "dcim.interface", "assigned_object_id": bmc},
    )
    call("PATCH", f"/api/dcim/devices/{device}/", {"primary_ip4": ip, "oob_ip": oob})

    os.makedirs(OUT, exist_ok=True)
    captured = {
        "device_with_config_context.json": call("GET", f"/api/dcim/devices/{device}/?fields={FIELDS}"),
        "sites.json": call("GET", "/api/dcim/sites/?fields=id,region,group&ordering=id&limit=1000&offset=0"),
        "regions.json": call("GET", "/api/dcim/regions/?fields=id,name,parent&ordering=id&limit=1000&offset=0"),
        "site-groups.json": call("GET", "/api/dcim/site-groups/?fields=id,name,parent&ordering=id&limit=1000&offset=0"),
    }
    for name, body in captured.items():
        with open(os.path.join(OUT, name), "w") as f:
            json.dump(body, f, indent=2, sort_keys=True)
            f.write("\n")
    print(f"device {device} captured into {OUT}")


if __name__ == "__main__":
    main()
