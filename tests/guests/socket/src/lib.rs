//! Allows if it can open a TCP connection to the address in its settings (a JSON string such
//! as `"127.0.0.1:8080"`) or resolve a name: it must not.
#[path = "../../common.rs"]
mod common;
use common::*;
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};

struct Net;

impl Guest for Net {
    fn validate_settings(_settings: String) -> Result<(), String> {
        Ok(())
    }

    fn evaluate(settings: String, _requester: Identity, request: AccessRequest) -> Decision {
        let address = settings.trim().trim_matches('"').to_owned();
        let tcp = TcpStream::connect(&address).map(drop);
        let udp = UdpSocket::bind("127.0.0.1:0").map(drop);
        let dns = "localhost:80".to_socket_addrs().map(drop);
        match (tcp, udp, dns) {
            (Err(tcp), Err(udp), Err(dns)) => {
                Decision::Deny(format!("no network: tcp: {tcp}; udp: {udp}; dns: {dns}"))
            }
            _ => Decision::Allow(asked_for(&request)),
        }
    }
}

export!(Net);
