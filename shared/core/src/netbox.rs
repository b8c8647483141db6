//! NetBox devices and virtual machines, as the product needs them: parsed from NetBox 4.x's REST
//! representation (a webhook's `data`, or a REST GET), keeping only the fields the desired host
//! is computed from.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

named_enum!(
    /// The NetBox object types that become Zabbix hosts.
    ObjectKind {
        Device => "dcim.device",
        VirtualMachine => "virtualization.virtualmachine",
    }
);

/// Exactly one NetBox object, e.g. `dcim.device/123`: the value of the managed-by tag, and the
/// SQS message group of its host jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ObjectRef {
    pub kind: ObjectKind,
    pub id: u64,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.id)
    }
}

impl FromStr for ObjectRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, id) = s.split_once('/').ok_or_else(|| format!("{s:?} is not like dcim.device/123"))?;
        let kind = kind.parse::<ObjectKind>().map_err(|e| e.to_string())?;
        // Canonical only: `+1`, `01` or ` 1` would name object 1 under a second spelling.
        let canonical = !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && (id == "0" || !id.starts_with('0'));
        let id = id
            .parse::<u64>()
            .ok()
            .filter(|_| canonical)
            .ok_or_else(|| format!("{s:?}: the id must be a whole number written plainly (like 123)"))?;
        Ok(ObjectRef { kind, id })
    }
}

impl TryFrom<String> for ObjectRef {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<ObjectRef> for String {
    fn from(value: ObjectRef) -> Self {
        value.to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrimaryIp {
    /// Without the prefix length: `192.0.2.10`.
    pub address: String,
    pub dns_name: String,
}

/// A device or VM with what the desired host needs. Related objects are kept by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetboxObject {
    pub reference: ObjectRef,
    pub name: Option<String>,
    pub status: String,
    pub site: Option<String>,
    /// The site's NetBox id: what its region and site group are looked up by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_id: Option<u64>,
    /// Where the site is, when a template needs it (read from NetBox's site lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<SitePlace>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub role: Option<String>,
    pub platform: Option<String>,
    pub tenant: Option<String>,
    pub device_type: Option<String>,
    pub manufacturer: Option<String>,
    pub cluster: Option<String>,
    pub tags: Vec<String>,
    pub primary_ip4: Option<PrimaryIp>,
    pub primary_ip6: Option<PrimaryIp>,
    /// A device's out-of-band IP (NetBox 4.1+): what an IPMI interface is usually on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oob_ip: Option<PrimaryIp>,
    pub serial: Option<String>,
    pub asset_tag: Option<String>,
    /// The slugs of the related objects by attribute (`site`, `role`, `platform`, `tenant`,
    /// `device_type`, `manufacturer`) and of the tags: rules match slugs (stable) as well as
    /// names (what people read).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub slugs: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tag_slugs: Vec<String>,
    /// NetBox's rendered config context (kept to the product's key when stored: see
    /// [`NetboxObject::keep_only`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_context: Option<Value>,
    /// NetBox custom fields with a value (kept to the product's when stored).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_fields: BTreeMap<String, Value>,
    /// The object's REST fields as NetBox gave them, for templates reading `netbox.<field>`
    /// (kept to the fields a template reads when stored).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Value>,
    /// When NetBox last changed the object, as read: the write-back's precondition (NetBox's
    /// `If-Match`), so it never overwrites a change made since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
}

/// The regions and site groups a site is in, each list from the top down to the site's own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SitePlace {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub site_groups: Vec<String>,
}

impl SitePlace {
    /// Every site's place from NetBox's lists of sites (`id`, `region`, `group`), regions and
    /// site groups (`id`, `name`, `parent`), walking each parent chain to the top (a cycle, which
    /// NetBox forbids, stops the walk instead of looping).
    pub fn of_sites(sites: &[Value], regions: &[Value], site_groups: &[Value]) -> BTreeMap<u64, SitePlace> {
        let tree = |items: &[Value]| -> BTreeMap<u64, (String, Option<u64>)> {
            items
                .iter()
                .filter_map(|i| {
                    let parent = i.get("parent").and_then(|p| p.get("id")).and_then(Value::as_u64);
                    Some((i.get("id")?.as_u64()?, (name_of(i)?, parent)))
                })
                .collect()
        };
        let chain = |tree: &BTreeMap<u64, (String, Option<u64>)>, mut next: Option<u64>| {
            let mut names = Vec::new();
            while let Some((name, parent)) = next.and_then(|id| tree.get(&id)) {
                if names.len() > tree.len() {
                    break;
                }
                names.push(name.clone());
                next = *parent;
            }
            names.reverse();
            names
        };
        let (regions, groups) = (tree(regions), tree(site_groups));
        let id = |site: &Value, key: &str| site.get(key).and_then(|r| r.get("id")).and_then(Value::as_u64);
        sites
            .iter()
            .filter_map(|site| {
                let place = SitePlace {
                    regions: chain(&regions, id(site, "region")),
                    site_groups: chain(&groups, id(site, "group")),
                };
                Some((site.get("id")?.as_u64()?, place))
            })
            .collect()
    }
}

fn name_of(value: &Value) -> Option<String> {
    value.get("name").and_then(Value::as_str).map(str::to_string)
}

fn non_empty(value: &Value) -> Option<String> {
    value.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

fn primary_ip(value: &Value) -> Result<Option<PrimaryIp>, String> {
    if value.is_null() {
        return Ok(None);
    }
    let cidr = value.get("address").and_then(Value::as_str).ok_or("primary IP without address")?;
    let address = cidr.split('/').next().unwrap_or(cidr).to_string();
    Ok(Some(PrimaryIp { address, dns_name: value.get("dns_name").and_then(Value::as_str).unwrap_or("").to_string() }))
}

impl NetboxObject {
    /// Parses NetBox's REST representation of a device or VM.
    pub fn from_rest(kind: ObjectKind, data: &Value) -> Result<NetboxObject, String> {
        if !data.is_object() {
            return Err("the object is not a JSON object".into());
        }
        let id = data.get("id").and_then(Value::as_u64).ok_or("the object has no numeric id")?;
        let status = data
            .get("status")
            .and_then(|s| s.get("value").or(Some(s)))
            .and_then(Value::as_str)
            .ok_or("the object has no status")?
            .to_string();
        let tags = match data.get("tags") {
            Some(Value::Array(tags)) => {
                tags.iter().filter_map(|t| name_of(t).or_else(|| t.as_str().map(str::to_string))).collect()
            }
            _ => Vec::new(),
        };
        let device_type = data.get("device_type").filter(|v| !v.is_null());
        let slug_of = |v: &Value| v.get("slug").and_then(Value::as_str).map(str::to_string);
        let related = [
            ("site", data.get("site")),
            ("role", data.get("role")),
            ("platform", data.get("platform")),
            ("tenant", data.get("tenant")),
            ("device_type", device_type),
            ("manufacturer", device_type.and_then(|d| d.get("manufacturer"))),
        ];
        let slugs = related
            .iter()
            .filter_map(|(attr, v)| Some((attr.to_string(), slug_of((*v)?)?)))
            .collect::<BTreeMap<_, _>>();
        let tag_slugs = match data.get("tags") {
            Some(Value::Array(tags)) => tags.iter().filter_map(slug_of).collect(),
            _ => Vec::new(),
        };
        Ok(NetboxObject {
            reference: ObjectRef { kind, id },
            name: data.get("name").and_then(non_empty),
            status,
            site: data.get("site").and_then(name_of),
            site_id: data.get("site").and_then(|s| s.get("id")).and_then(Value::as_u64),
            place: None,
            location: data.get("location").and_then(name_of),
            role: data.get("role").and_then(name_of),
            platform: data.get("platform").and_then(name_of),
            tenant: data.get("tenant").and_then(name_of),
            device_type: device_type.and_then(|d| d.get("model")).and_then(non_empty),
            manufacturer: device_type.and_then(|d| d.get("manufacturer")).and_then(name_of),
            cluster: data.get("cluster").and_then(name_of),
            tags,
            primary_ip4: primary_ip(data.get("primary_ip4").unwrap_or(&Value::Null))?,
            primary_ip6: primary_ip(data.get("primary_ip6").unwrap_or(&Value::Null))?,
            oob_ip: primary_ip(data.get("oob_ip").unwrap_or(&Value::Null))?,
            serial: data.get("serial").and_then(non_empty),
            asset_tag: data.get("asset_tag").and_then(non_empty),
            slugs,
            tag_slugs,
            config_context: data.get("config_context").filter(|c| c.is_object()).cloned(),
            custom_fields: data
                .get("custom_fields")
                .and_then(Value::as_object)
                .map(|f| f.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            attributes: data
                .as_object()
                .map(|o| o.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            last_updated: data.get("last_updated").and_then(Value::as_str).map(str::to_string),
        })
    }

    /// Drops every config context key but `keys`, every custom field not in `fields` and every
    /// REST field not in `attributes` (what the host is computed from), so a host config stays
    /// small whatever else NetBox holds.
    pub fn keep_only(mut self, keys: &[String], fields: &[String], attributes: &[String]) -> NetboxObject {
        self.attributes.retain(|name, _| attributes.contains(name));
        self.config_context = self.config_context.map(|c| match c {
            Value::Object(map) => Value::Object(map.into_iter().filter(|(k, _)| keys.contains(k)).collect()),
            other => other,
        });
        self.custom_fields.retain(|name, _| fields.contains(name));
        self
    }

    /// The primary IP to monitor: IPv4 preferred.
    pub fn primary_ip(&self) -> Option<&PrimaryIp> {
        self.primary_ip4.as_ref().or(self.primary_ip6.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_refs_round_trip_and_refuse_other_types() {
        let r: ObjectRef = "dcim.device/123".parse().unwrap();
        assert_eq!(r, ObjectRef { kind: ObjectKind::Device, id: 123 });
        assert_eq!(r.to_string(), "dcim.device/123");
        assert_eq!(serde_json::to_value(r).unwrap(), "dcim.device/123");
        assert!("dcim.interface/1".parse::<ObjectRef>().is_err());
        assert!("dcim.device/x".parse::<ObjectRef>().is_err());
        assert!("dcim.device".parse::<ObjectRef>().is_err());
    }

    #[test]
    fn object_ids_are_canonical_so_one_object_has_one_spelling() {
        for spelling in
            ["dcim.device/+1", "dcim.device/01", "dcim.device/ 1", "dcim.device/1 ", "dcim.device/", "dcim.device/-1"]
        {
            let e = spelling.parse::<ObjectRef>().unwrap_err();
            assert!(e.contains("written plainly"), "{spelling}: {e}");
        }
        assert_eq!("dcim.device/10".parse::<ObjectRef>().unwrap().id, 10);
        assert_eq!("virtualization.virtualmachine/0".parse::<ObjectRef>().unwrap().id, 0);
    }

    #[test]
    fn a_sites_place_walks_its_region_and_group_parents_to_the_top() {
        let sites = [
            serde_json::json!({"id": 1, "region": {"id": 3}, "group": {"id": 10}}),
            serde_json::json!({"id": 2, "region": null, "group": null}),
        ];
        let regions = [
            serde_json::json!({"id": 1, "name": "Europe", "parent": null}),
            serde_json::json!({"id": 2, "name": "Netherlands", "parent": {"id": 1}}),
            serde_json::json!({"id": 3, "name": "Amsterdam", "parent": {"id": 2}}),
            serde_json::json!({"id": 8, "name": "Loop A", "parent": {"id": 9}}),
            serde_json::json!({"id": 9, "name": "Loop B", "parent": {"id": 8}}),
        ];
        let groups = [serde_json::json!({"id": 10, "name": "Colo", "parent": null})];
        let places = SitePlace::of_sites(&sites, &regions, &groups);
        assert_eq!(places[&1].regions, ["Europe", "Netherlands", "Amsterdam"]);
        assert_eq!(places[&1].site_groups, ["Colo"]);
        assert_eq!(places[&2], SitePlace::default());
        let looped = SitePlace::of_sites(&[serde_json::json!({"id": 5, "region": {"id": 8}})], &regions, &[]);
        assert!(looped[&5].regions.len() <= regions.len() + 1, "a cycle ends");
    }

    #[test]
    fn malformed_objects_are_refused_with_a_reason() {
        assert!(NetboxObject::from_rest(ObjectKind::Device, &serde_json::json!([])).is_err());
        assert!(
            NetboxObject::from_rest(ObjectKind::Device, &serde_json::json!({"id": "1", "status": "active"})).is_err()
        );
        assert!(
            NetboxObject::from_rest(ObjectKind::Device, &serde_json::json!({"id": 1})).unwrap_err().contains("status")
        );
    }
}
