//! Against RabbitMQ 3.10 (rabbitmq_stomp + rabbitmq_web_stomp), started by tests/run.sh:
//! every transport, TLS verification, version negotiation, ack semantics, NACK
//! redelivery, transactions, receipts, refused logins and sends.

mod common;
mod ops;

use std::time::Duration;

use common::{ca_file, unique, GUEST, READ_ONLY, STOMPWS};
use ops::{assert_quiet, config, exercise, recv};
use stompws::{AckMode, Client, Error};

#[test]
fn every_operation_over_ws() {
    let url = require!("STOMPWS_RABBITMQ_WS");
    assert_eq!(exercise(&url, &config(GUEST)), "1.2");
}

#[test]
fn every_operation_over_wss_with_the_ca_file() {
    let url = require!("STOMPWS_RABBITMQ_WSS");
    exercise(&url, &config(STOMPWS).tls_ca_file(ca_file()));
}

#[test]
fn every_operation_over_tcp() {
    let url = require!("STOMPWS_RABBITMQ_TCP");
    exercise(&url, &config(STOMPWS));
}

#[test]
fn every_operation_over_ssl_with_the_ca_file() {
    let url = require!("STOMPWS_RABBITMQ_SSL");
    exercise(&url, &config(STOMPWS).tls_ca_file(ca_file()));
}

#[test]
fn tls_without_the_ca_file_fails_and_insecure_works() {
    for var in ["STOMPWS_RABBITMQ_SSL", "STOMPWS_RABBITMQ_WSS"] {
        let url = require!(var);
        let err = Client::connect(&url, &config(GUEST)).unwrap_err();
        match &err {
            Error::Tls(d) => assert!(d.contains("verify"), "{d}"),
            other => panic!("{var}: expected a TLS error, got {other:?}"),
        }
        let c = Client::connect(&url, &config(GUEST).tls_insecure(true)).unwrap();
        assert!(c.is_connected());
        c.disconnect().unwrap();
    }
}

#[test]
fn negotiates_each_version() {
    for var in ["STOMPWS_RABBITMQ_WS", "STOMPWS_RABBITMQ_TCP"] {
        let url = require!(var);
        for v in ["1.0", "1.1", "1.2"] {
            assert_eq!(exercise(&url, &config(GUEST).versions(v)), v, "{var} {v}");
        }
        let c = Client::connect(&url, &config(GUEST)).unwrap();
        assert_eq!(c.version(), "1.2");
        assert!(
            c.server().is_some_and(|s| s.starts_with("RabbitMQ")),
            "{:?}",
            c.server()
        );
        assert!(c.session().is_some());
        c.disconnect().unwrap();
    }
}

#[test]
fn vhost_is_the_host_header() {
    let url = require!("STOMPWS_RABBITMQ_TCP");
    let c = Client::connect(&url, &config(STOMPWS).host(common::RABBITMQ_VHOST)).unwrap();
    c.send_with_receipt(&format!("/queue/{}", unique("vh")), &[], b"x")
        .unwrap();
    c.disconnect().unwrap();
    let err = Client::connect(&url, &config(STOMPWS).host("localhost")).unwrap_err();
    assert!(matches!(err, Error::ServerError { .. }), "{err:?}");
}

/// Sends `n` numbered messages to `q` and confirms them with the last one's receipt.
fn fill(c: &Client, q: &str, n: usize) {
    for i in 1..=n {
        let body = format!("m{i}");
        if i == n {
            c.send_with_receipt(q, &[], body.as_bytes()).unwrap();
        } else {
            c.send(q, &[], body.as_bytes()).unwrap();
        }
    }
}

fn bodies_left(url: &str, q: &str) -> Vec<String> {
    let c = Client::connect(url, &config(GUEST)).unwrap();
    let sub = c
        .subscribe(q, AckMode::Auto, &[("receipt", &unique("r"))])
        .unwrap();
    let mut left = Vec::new();
    while let Ok(m) = sub.recv_timeout(Duration::from_millis(700)) {
        left.push(String::from_utf8(m.body().to_vec()).unwrap());
    }
    c.disconnect().unwrap();
    left.sort();
    left
}

#[test]
fn client_ack_is_cumulative_client_individual_is_not() {
    let url = require!("STOMPWS_RABBITMQ_WS");
    for (mode, expect_left) in [
        (AckMode::Client, vec!["m3"]),
        (AckMode::ClientIndividual, vec!["m1", "m3"]),
    ] {
        let q = format!("/queue/{}", unique("acks"));
        let c = Client::connect(&url, &config(GUEST)).unwrap();
        fill(&c, &q, 3);
        let sub = c.subscribe(&q, mode, &[("prefetch-count", "10")]).unwrap();
        let got: Vec<_> = (0..3).map(|_| recv(&sub)).collect();
        assert_eq!(got[1].body(), b"m2");
        got[1].ack(&[("receipt", &unique("ack"))]).unwrap();
        // Closing the session returns the unacked messages to the queue.
        c.disconnect().unwrap();
        assert_eq!(bodies_left(&url, &q), expect_left, "{mode:?}");
    }
}

#[test]
fn nack_redelivers() {
    let url = require!("STOMPWS_RABBITMQ_TCP");
    let q = format!("/queue/{}", unique("nack"));
    let c = Client::connect(&url, &config(GUEST)).unwrap();
    let sub = c
        .subscribe(&q, AckMode::ClientIndividual, &[("receipt", &unique("r"))])
        .unwrap();
    c.send(&q, &[], b"again").unwrap();
    let m = recv(&sub);
    assert_eq!(m.header("redelivered"), Some("false"));
    m.nack(&[]).unwrap();
    let m = recv(&sub);
    assert_eq!(m.body(), b"again");
    assert_eq!(m.header("redelivered"), Some("true"));
    m.ack(&[]).unwrap();
    assert_quiet(&sub);
    c.disconnect().unwrap();
}

#[test]
fn bad_login_surfaces_the_brokers_message() {
    for var in ["STOMPWS_RABBITMQ_WS", "STOMPWS_RABBITMQ_TCP"] {
        let url = require!(var);
        match Client::connect(&url, &config(("guest", "wrong"))).unwrap_err() {
            Error::ServerError { message, body } => {
                assert_eq!(message, "Bad CONNECT");
                assert!(body.contains("Access refused for user 'guest'"), "{body}");
            }
            other => panic!("{var}: {other:?}"),
        }
    }
}

#[test]
fn read_only_send_is_refused() {
    // RabbitMQ answers a refused SEND with an ERROR that names no receipt and closes the
    // connection, so the waiting send sees the close and close_reason has the error.
    let url = require!("STOMPWS_RABBITMQ_TCP");
    let c = Client::connect(&url, &config(READ_ONLY)).unwrap();
    let err = c
        .send_with_receipt(&format!("/queue/{}", unique("ro")), &[], b"no")
        .unwrap_err();
    assert!(
        matches!(err, Error::Disconnected | Error::ServerError { .. }),
        "{err:?}"
    );
    let reason = c.close_reason().expect("closed");
    assert!(
        reason.contains("access_refused")
            || reason.contains("ACCESS_REFUSED")
            || reason.contains("refused"),
        "{reason}"
    );
}

#[test]
fn dropping_an_open_transaction_aborts_it() {
    let url = require!("STOMPWS_RABBITMQ_TCP");
    let c = Client::connect(&url, &config(GUEST)).unwrap();
    let q = format!("/queue/{}", unique("txdrop"));
    let sub = c
        .subscribe(&q, AckMode::Auto, &[("receipt", &unique("r"))])
        .unwrap();
    let tx = c.begin().unwrap();
    c.send(&q, &[("transaction", tx.id())], b"dropped").unwrap();
    drop(tx); // ABORT, without waiting
    c.send_with_receipt(&q, &[], b"kept").unwrap();
    assert_eq!(recv(&sub).body(), b"kept");
    assert_quiet(&sub);
    c.disconnect().unwrap();
}

#[test]
fn large_binary_body_over_ws_is_exact() {
    let url = require!("STOMPWS_RABBITMQ_WS");
    let c = Client::connect(&url, &config(GUEST)).unwrap();
    let q = format!("/queue/{}", unique("big"));
    let sub = c
        .subscribe(&q, AckMode::Auto, &[("receipt", &unique("r"))])
        .unwrap();
    let body: Vec<u8> = (0..(3 << 20))
        .map(|i: u32| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    c.send_with_receipt(&q, &[], &body).unwrap();
    let m = recv(&sub);
    assert_eq!(m.body().len(), body.len());
    assert!(m.body() == body.as_slice());
    c.disconnect().unwrap();
}
