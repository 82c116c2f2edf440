//! Test helpers: the server's side of WebSocket framing (a temporary directory and a
//! throw-away PKI are in `testpki.rs`).

/// An unmasked frame as a server sends it.
pub(crate) fn server_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    let len = payload.len();
    if len < 126 {
        out.push(len as u8);
    } else if len <= 0xFFFF {
        out.push(126);
        out.extend((len as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend((len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

/// One frame as the client sent it, unmasked.
#[derive(Debug)]
pub(crate) struct ClientMessage {
    pub fin: bool,
    pub masked: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// Splits bytes written by the client into frames; panics on anything incomplete.
pub(crate) fn parse_client_messages(mut bytes: &[u8]) -> Vec<ClientMessage> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let fin = bytes[0] & 0x80 != 0;
        assert_eq!(bytes[0] & 0x70, 0, "reserved bits set");
        let opcode = bytes[0] & 0x0F;
        let masked = bytes[1] & 0x80 != 0;
        let (len, mut at) = match bytes[1] & 0x7F {
            126 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&bytes[2..10]);
                (u64::from_be_bytes(b) as usize, 10)
            }
            n => (n as usize, 2),
        };
        // A client must use the shortest length encoding (RFC 6455 §5.2).
        assert!(at == 2 || (at == 4 && len >= 126) || (at == 10 && len > 0xFFFF));
        let mut key = [0u8; 4];
        if masked {
            key.copy_from_slice(&bytes[at..at + 4]);
            at += 4;
        }
        let payload: Vec<u8> = bytes[at..at + len]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 4])
            .collect();
        out.push(ClientMessage {
            fin,
            masked,
            opcode,
            payload,
        });
        bytes = &bytes[at + len..];
    }
    out
}
