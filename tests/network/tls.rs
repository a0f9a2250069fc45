//! TLS with mutual authentication: the guide's set-up (`guide/network.md`), its certificates
//! made by its `openssl` commands. A program whose certificate
//! the system's authority did not sign is refused.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use signal_slot::EventLoop;
use signal_slot::network::{Network, zenoh};

use super::{Event, PATIENCE, Tester, env, free_port, run_until_limit};

/// Makes an authority (`<name>-ca.pem`) and a certificate it signs
/// (`<name>.pem`, key `<name>.key`) in `dir`, as the guide says.
fn make_credentials(dir: &Path, name: &str) {
    let run = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl (install it to run this test)");
        assert!(status.success(), "openssl {args:?} failed");
    };
    let ca_key = format!("{name}-ca.key");
    let ca = format!("{name}-ca.pem");
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    let cert = format!("{name}.pem");
    let ext = format!("{name}.ext");
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        &ca_key,
        "-out",
        &ca,
        "-days",
        "30",
        "-subj",
        "/CN=signal-slot system CA",
    ]);
    run(&[
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
        "/CN=localhost",
    ]);
    std::fs::write(
        dir.join(&ext),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n\
         extendedKeyUsage=serverAuth,clientAuth\n",
    )
    .expect("extensions");
    run(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-out",
        &cert,
        "-days",
        "30",
        "-extfile",
        &ext,
    ]);
}

/// A peer's TLS configuration: trusting the authority `ca`, presenting
/// `name`'s certificate both when it listens and when it connects.
fn tls_config(
    dir: &Path,
    ca: &str,
    name: &str,
    listen: &[&str],
    connect: &[&str],
) -> zenoh::Config {
    let mut config = signal_slot::network::peer_config(listen, connect).expect("config");
    let path = |file: String| serde_json::to_string(&dir.join(file)).expect("a path");
    for (key, value) in [
        (
            "transport/link/tls/root_ca_certificate",
            path(format!("{ca}-ca.pem")),
        ),
        (
            "transport/link/tls/listen_private_key",
            path(format!("{name}.key")),
        ),
        (
            "transport/link/tls/listen_certificate",
            path(format!("{name}.pem")),
        ),
        (
            "transport/link/tls/connect_private_key",
            path(format!("{name}.key")),
        ),
        (
            "transport/link/tls/connect_certificate",
            path(format!("{name}.pem")),
        ),
        ("transport/link/tls/enable_mtls", "true".to_owned()),
    ] {
        config.insert_json5(key, &value).expect(key);
    }
    config
}

pub(super) fn a_peer_without_valid_credentials_is_refused() {
    let dir = std::env::temp_dir().join(format!("signal-slot-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let _cleanup = Cleanup(dir.clone());
    // The system's authority signs the tester's and the member's
    // certificates; the intruder's own authority signs its.
    make_credentials(&dir, "system");
    std::fs::copy(dir.join("system.key"), dir.join("member.key")).expect("copy");
    std::fs::copy(dir.join("system.pem"), dir.join("member.pem")).expect("copy");
    make_credentials(&dir, "intruder");

    let endpoint = format!("tls/127.0.0.1:{}", free_port());
    let config = tls_config(&dir, "system", "system", &[&endpoint], &[]);
    let mut tester = Tester::with_config("tls", endpoint, config);
    let dir_text = dir.to_str().expect("a UTF-8 path");
    // The intruder trusts the system's authority (it could download it),
    // but its own certificate is not signed by it.
    let intruder = tester.start(
        "tls-peer",
        "intruder-loop",
        &[
            ("NET_TLS_DIR", dir_text),
            ("NET_TLS_CA", "system"),
            ("NET_TLS_NAME", "intruder"),
            ("NET_LOOK_FOR", "probe-tls"),
        ],
    );
    let status = tester.programs[intruder].wait().expect("its end");
    assert_eq!(
        status.code(),
        Some(0),
        "a peer with a certificate of another authority reached the system"
    );
    let found = tester
        .network
        .find_loop("intruder-loop", Duration::from_secs(1));
    assert!(found.is_err(), "the intruder's loop was reached");

    // A member with the system's credentials is in.
    tester.start(
        "tls-peer",
        "member-loop",
        &[
            ("NET_TLS_DIR", dir_text),
            ("NET_TLS_CA", "system"),
            ("NET_TLS_NAME", "member"),
        ],
    );
    let (_, echo) = tester.connect_echo("member-loop");
    let _ = echo;
    tester.probe.value().emit(7);
    assert_eq!(
        tester.events.recv_timeout(PATIENCE).expect("an echo"),
        Event::Echo(7)
    );
}

struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A member (with `NET_LOOK_FOR` unset: runs an echo loop) or an intruder
/// (exits 0 if it could not reach the loop `NET_LOOK_FOR`).
pub(super) fn role_tls_peer() {
    let dir = PathBuf::from(env("NET_TLS_DIR"));
    let connect = env("NET_CONNECT");
    let config = tls_config(
        &dir,
        &env("NET_TLS_CA"),
        &env("NET_TLS_NAME"),
        &[],
        &[&connect],
    );
    let network = match Network::join(&env("NET_SYSTEM"), config) {
        Ok(network) => network,
        // Refused before anything: what an intruder should see.
        Err(_) if std::env::var_os("NET_LOOK_FOR").is_some() => std::process::exit(0),
        Err(error) => panic!("a member cannot join: {error}"),
    };
    let main = EventLoop::new(env("NET_LOOP")).expect("loop");
    main.add_with_id("echo", super::Echo::default())
        .expect("object");
    network.export(&main.handle()).expect("export");
    if let Ok(look_for) = std::env::var("NET_LOOK_FOR") {
        let found = network.find_loop(&look_for, Duration::from_secs(3));
        std::process::exit(if found.is_err() { 0 } else { 1 });
    }
    run_until_limit(main);
}
