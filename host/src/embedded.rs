//! The policies Wicket ships, built for `wasm32-wasip2` by the build script and embedded so
//! that `wicket dev` needs nothing but the binary.

/// `group-access`: groups get the clusters, namespaces, roles and TTL their settings allow.
pub const GROUP_ACCESS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/group_access.wasm"));
/// `require-ticket`: requests in scope must cite a ticket, or need approval.
pub const REQUIRE_TICKET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/require_ticket.wasm"));
/// `change-window`: access only inside the configured change windows.
pub const CHANGE_WINDOW: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/change_window.wasm"));
/// `workload-identity`: workloads (CI jobs, services) get what their claims allow.
pub const WORKLOAD_IDENTITY: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/workload_identity.wasm"));

/// Every shipped policy as `(name, component bytes)`.
pub const ALL: [(&str, &[u8]); 4] = [
    ("group-access", GROUP_ACCESS),
    ("require-ticket", REQUIRE_TICKET),
    ("change-window", CHANGE_WINDOW),
    ("workload-identity", WORKLOAD_IDENTITY),
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_shipped_policy_is_a_component() {
        for (name, bytes) in super::ALL {
            // A component starts with the wasm magic and layer 1 (component) version 0x0d 0x00 0x01 0x00.
            assert_eq!(&bytes[..4], b"\0asm", "{name}");
            assert_eq!(
                &bytes[4..8],
                &[0x0d, 0x00, 0x01, 0x00],
                "{name} is not a component"
            );
        }
    }
}
