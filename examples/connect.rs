//! Connects to a broker, prints the CONNECT/CONNECTED exchange through the debug hook,
//! sends one message to itself and disconnects.
//!
//! `cargo run --example connect -- [URL] [LOGIN] [PASSCODE]`; the defaults are the local
//! RabbitMQ started by `tests/brokers/rabbitmq.sh start`.

use std::time::Duration;

use stompws::{AckMode, Client, Config};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args
        .first()
        .map_or("ws://127.0.0.1:15674/ws", String::as_str);
    let login = args.get(1).map_or("guest", String::as_str);
    let passcode = args.get(2).map_or("guest", String::as_str);
    let config = Config::new()
        .login(login, passcode)
        .debug(|line| println!("{line}"));
    let result = (|| -> stompws::Result<()> {
        let client = Client::connect(url, &config)?;
        println!(
            "connected to {url}: STOMP {} ({})",
            client.version(),
            client.server().unwrap_or("unknown server")
        );
        let sub = client.subscribe("/queue/stompws-example", AckMode::Client, &[])?;
        client.send(
            "/queue/stompws-example",
            &[("content-type", "text/plain")],
            b"Hello, STOMP",
        )?;
        let msg = sub.recv_timeout(Duration::from_secs(5))?;
        println!("received: {}", String::from_utf8_lossy(msg.body()));
        msg.ack(&[])?;
        client.disconnect()
    })();
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
