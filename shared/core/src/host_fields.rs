//! Which host fields NetBox data may name (docs/product.md §3.2): the inventory fields Zabbix has
//! (a fat-fingered one is refused when written, not silently dropped by Zabbix), and the tag names
//! the product keeps for itself.

/// The Zabbix host inventory fields (the same in 6.0 and 7.0): what `inventory_fields`,
/// `inventory_mappings` and a config context's `inventory` may name.
pub const INVENTORY_FIELDS: &[&str] = &[
    "type",
    "type_full",
    "name",
    "alias",
    "os",
    "os_full",
    "os_short",
    "serialno_a",
    "serialno_b",
    "tag",
    "asset_tag",
    "macaddress_a",
    "macaddress_b",
    "hardware",
    "hardware_full",
    "software",
    "software_full",
    "software_app_a",
    "software_app_b",
    "software_app_c",
    "software_app_d",
    "software_app_e",
    "contact",
    "location",
    "location_lat",
    "location_lon",
    "notes",
    "chassis",
    "model",
    "hw_arch",
    "vendor",
    "contract_number",
    "installer_name",
    "deployment_status",
    "url_a",
    "url_b",
    "url_c",
    "host_networks",
    "host_netmask",
    "host_router",
    "oob_ip",
    "oob_netmask",
    "oob_router",
    "date_hw_purchase",
    "date_hw_install",
    "date_hw_expiry",
    "date_hw_decomm",
    "site_address_a",
    "site_address_b",
    "site_address_c",
    "site_city",
    "site_state",
    "site_country",
    "site_zip",
    "site_rack",
    "site_notes",
    "poc_1_name",
    "poc_1_email",
    "poc_1_phone_a",
    "poc_1_phone_b",
    "poc_1_cell",
    "poc_1_screen",
    "poc_1_notes",
    "poc_2_name",
    "poc_2_email",
    "poc_2_phone_a",
    "poc_2_phone_b",
    "poc_2_cell",
    "poc_2_screen",
    "poc_2_notes",
];

/// Refuses an inventory field Zabbix does not have, naming where it was set.
pub fn check_inventory_field(field: &str, whence: &str) -> Result<(), String> {
    if INVENTORY_FIELDS.contains(&field) {
        return Ok(());
    }
    Err(format!("{whence}: {field:?} is not a Zabbix inventory field (like serialno_a, location, os, contact)"))
}

/// Refuses a tag name NetBox data may not set (the product's own, or empty).
pub fn check_tag_name(tag: &str, whence: &str) -> Result<(), String> {
    if tag.trim().is_empty() || crate::overrides::RESERVED_TAGS.contains(&tag) {
        return Err(format!(
            "{whence}: {tag:?} is not a tag name NetBox may set (empty, or one of {:?})",
            crate::overrides::RESERVED_TAGS
        ));
    }
    Ok(())
}
