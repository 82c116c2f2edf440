//! Against ActiveMQ Classic 5.17 (Debian's build: STOMP over TCP and TLS, no WebSocket
//! transport), started by tests/run.sh.

mod common;
mod ops;

use common::{ca_file, unique, READ_ONLY, STOMPWS};
use ops::{config, exercise};
use stompws::{Client, Error};

#[test]
fn every_operation_over_tcp_on_each_version() {
    let url = require!("STOMPWS_ACTIVEMQ_TCP");
    for v in ["1.0", "1.1", "1.2"] {
        assert_eq!(exercise(&url, &config(STOMPWS).versions(v)), v);
    }
    assert_eq!(exercise(&url, &config(STOMPWS)), "1.2");
}

#[test]
fn every_operation_over_ssl() {
    let url = require!("STOMPWS_ACTIVEMQ_SSL");
    exercise(&url, &config(STOMPWS).tls_ca_file(ca_file()));
    match Client::connect(&url, &config(STOMPWS)).unwrap_err() {
        Error::Tls(d) => assert!(d.contains("verify"), "{d}"),
        other => panic!("expected a TLS error, got {other:?}"),
    }
    let c = Client::connect(&url, &config(STOMPWS).tls_insecure(true)).unwrap();
    c.disconnect().unwrap();
}

#[test]
fn bad_login_surfaces_the_brokers_message() {
    let url = require!("STOMPWS_ACTIVEMQ_TCP");
    match Client::connect(&url, &config(("stompws", "wrong"))).unwrap_err() {
        Error::ServerError { message, .. } => {
            assert!(message.contains("password is invalid"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn read_only_send_gives_server_error_and_closes() {
    // ActiveMQ's ERROR carries the refused SEND's receipt-id: the waiting call gets it.
    let url = require!("STOMPWS_ACTIVEMQ_TCP");
    let c = Client::connect(&url, &config(READ_ONLY)).unwrap();
    match c
        .send_with_receipt(&format!("/queue/{}", unique("ro")), &[], b"no")
        .unwrap_err()
    {
        Error::ServerError { message, .. } => {
            assert!(message.contains("not authorized"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // We close after an ERROR, even though ActiveMQ would keep the connection open.
    let t = std::time::Instant::now();
    while c.is_connected() && t.elapsed().as_secs() < 5 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(!c.is_connected());
    assert!(c.close_reason().unwrap().contains("not authorized"));
}
