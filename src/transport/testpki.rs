//! Test helpers for TLS: a temporary directory, and a throw-away PKI made with the
//! `openssl` command.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A directory under the system's temp dir, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("stompws-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A throw-away CA with one server certificate, made with the `openssl` command.
pub(crate) struct Pki {
    /// Owns the folder: the files live as long as the `Pki`.
    #[allow(dead_code)]
    pub dir: TempDir,
    /// The CA certificate (PEM), to trust.
    pub ca_pem: PathBuf,
    /// The server's key and certificate as PKCS#12, password "test".
    pub server_p12: PathBuf,
    /// A client certificate and its PKCS#8 key (PEM), signed by the CA.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command runs");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Pki {
    /// A CA, and a server certificate for the DNS name `server_name` (only), signed by it.
    pub(crate) fn new(server_name: &str) -> Pki {
        let dir = TempDir::new("pki");
        let d = dir.path();
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=stompws test CA",
            ],
        );
        let ext = format!(
            "basicConstraints=CA:FALSE\nsubjectAltName=DNS:{server_name}\n\
             extendedKeyUsage=serverAuth,clientAuth\n"
        );
        std::fs::write(d.join("ext.cnf"), ext).unwrap();
        for name in ["server", "client"] {
            let key = format!("{name}.key");
            let csr = format!("{name}.csr");
            let pem = format!("{name}.pem");
            let subj = format!("/CN={server_name}");
            openssl(
                d,
                &[
                    "req",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                    "-keyout",
                    &key,
                    "-out",
                    &csr,
                    "-subj",
                    &subj,
                ],
            );
            openssl(
                d,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-out",
                    &pem,
                    "-days",
                    "2",
                    "-extfile",
                    "ext.cnf",
                ],
            );
        }
        openssl(
            d,
            &[
                "pkcs12",
                "-export",
                "-inkey",
                "server.key",
                "-in",
                "server.pem",
                "-out",
                "server.p12",
                "-passout",
                "pass:test",
            ],
        );
        // openssl 3 writes PKCS#8 keys already; convert anyway so older versions work.
        openssl(
            d,
            &[
                "pkcs8",
                "-topk8",
                "-nocrypt",
                "-in",
                "client.key",
                "-out",
                "client.p8",
            ],
        );
        Pki {
            ca_pem: d.join("ca.pem"),
            server_p12: d.join("server.p12"),
            client_cert: d.join("client.pem"),
            client_key: d.join("client.p8"),
            dir,
        }
    }

    /// A native-tls acceptor serving the server certificate.
    pub(crate) fn acceptor(&self) -> native_tls::TlsAcceptor {
        let der = std::fs::read(&self.server_p12).unwrap();
        let id = native_tls::Identity::from_pkcs12(&der, "test").unwrap();
        native_tls::TlsAcceptor::new(id).unwrap()
    }
}
