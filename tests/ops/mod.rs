//! The operations every broker and transport must support, as one routine that the
//! broker tests run on each of their endpoints.
#![allow(dead_code)]

use std::sync::mpsc;
use std::time::Duration;

use stompws::{AckMode, Client, Config, Error, Message, Subscription};

use crate::common::unique;

pub const WAIT: Duration = Duration::from_secs(10);

pub fn config(user: (&str, &str)) -> Config {
    Config::new()
        .login(user.0, user.1)
        .connect_timeout(Duration::from_secs(10))
        .receipt_timeout(Duration::from_secs(10))
}

pub fn recv(sub: &Subscription) -> Message {
    sub.recv_timeout(WAIT).expect("a message within 10 s")
}

/// Nothing more arrives within a short while.
pub fn assert_quiet(sub: &Subscription) {
    match sub.recv_timeout(Duration::from_millis(400)) {
        Err(Error::Timeout) => {}
        Ok(m) => panic!("unexpected message {:?}", String::from_utf8_lossy(m.body())),
        Err(e) => panic!("{e}"),
    }
}

/// Connect, subscribe, send (headers with escapes, a body with NUL bytes), receive, ack,
/// nack, receipts, transactions (commit and abort), a callback subscription,
/// unsubscribe and disconnect, checking each answer. Returns the negotiated version.
pub fn exercise(url: &str, config: &Config) -> String {
    let c = Client::connect(url, config).unwrap_or_else(|e| panic!("connect {url}: {e}"));
    assert!(c.is_connected());
    let version = c.version().to_string();
    let q = format!("/queue/{}", unique("ops"));

    let sub = c
        .subscribe(
            &q,
            AckMode::ClientIndividual,
            &[("receipt", &unique("sub"))],
        )
        .unwrap();
    // Escapes exist from 1.1 on; on 1.0 a value with a line break is refused.
    let tricky = if version == "1.0" {
        "plain value"
    } else {
        "a:b\\c\nd é"
    };
    c.send(
        &q,
        &[
            ("x-key", tricky),
            ("content-type", "application/octet-stream"),
        ],
        b"hello\0world\xff",
    )
    .unwrap();
    let m = recv(&sub);
    assert_eq!(m.command(), "MESSAGE");
    assert_eq!(m.destination(), Some(q.as_str()));
    assert_eq!(m.body(), b"hello\0world\xff");
    assert_eq!(m.header("x-key"), Some(tricky));
    m.ack(&[("receipt", &unique("ack"))]).unwrap();
    assert!(
        matches!(m.ack(&[]), Err(Error::InvalidArgument(_))),
        "a second ack is refused"
    );

    c.send_with_receipt(&q, &[], b"two").unwrap();
    let m = recv(&sub);
    assert_eq!(m.body(), b"two");
    if version == "1.0" {
        assert!(matches!(m.nack(&[]), Err(Error::Unsupported(_))));
        m.ack(&[]).unwrap();
    } else {
        m.ack(&[]).unwrap();
    }

    let tx = c.begin().unwrap();
    c.send(&q, &[("transaction", tx.id())], b"in tx").unwrap();
    assert_quiet(&sub);
    tx.commit().unwrap();
    let m = recv(&sub);
    assert_eq!(m.body(), b"in tx");
    m.ack(&[]).unwrap();

    let tx = c.begin_with_id(&unique("tx")).unwrap();
    c.send(&q, &[("transaction", tx.id())], b"aborted").unwrap();
    tx.abort().unwrap();
    c.send_with_receipt(&q, &[], b"after abort").unwrap();
    let m = recv(&sub);
    assert_eq!(m.body(), b"after abort", "the aborted SEND must not arrive");
    m.ack(&[]).unwrap();

    sub.unsubscribe(&[("receipt", &unique("unsub"))]).unwrap();
    assert!(matches!(
        sub.unsubscribe(&[]),
        Err(Error::InvalidArgument(_))
    ));
    drop(sub);

    let (tx, rx) = mpsc::channel();
    let topic = format!("/topic/{}", unique("cb"));
    let cb = c
        .subscribe_callback(
            &topic,
            AckMode::Auto,
            &[("receipt", &unique("cbsub"))],
            move |m| {
                let _ = tx.send(m.body().to_vec());
            },
        )
        .unwrap();
    for i in 0..3 {
        c.send(&topic, &[], format!("cb {i}").as_bytes()).unwrap();
    }
    for i in 0..3 {
        assert_eq!(
            rx.recv_timeout(WAIT).unwrap(),
            format!("cb {i}").into_bytes()
        );
    }
    assert!(matches!(
        cb.recv_timeout(Duration::from_millis(1)),
        Err(Error::InvalidArgument(_))
    ));
    drop(cb);

    c.disconnect().unwrap();
    assert!(!c.is_connected());
    assert_eq!(c.send(&q, &[], b"late").unwrap_err(), Error::Disconnected);
    c.disconnect().unwrap();
    version
}
