//! The web config end to end: TLS and mutual TLS with real clients, basic auth,
//! headers, changes applied without a restart, and refusals that stop start-up.

use crate::support;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use reqwest::{Certificate, Client, Identity};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::{Exporter, KEY_ENV, config_file, run_to_end};

/// A certificate authority that issues server and client certificates for 127.0.0.1.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Self {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// Certificate and key PEM for `usage`.
    fn issue(&self, usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "test");
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn root(&self) -> Certificate {
        Certificate::from_pem(self.pem.as_bytes()).unwrap()
    }

    /// A client identity (certificate and key in one PEM) issued by this CA.
    fn client_identity(&self) -> Identity {
        let (cert, key) = self.issue(ExtendedKeyUsagePurpose::ClientAuth);
        Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap()
    }
}

/// A folder holding a web config and the files it names, relative to it.
struct WebDir {
    dir: tempfile::TempDir,
}

impl WebDir {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        // Written beside and renamed over, as config management does: never seen half-written.
        let part = self.dir.path().join(format!(".{name}.part"));
        std::fs::write(&part, text).unwrap();
        std::fs::rename(&part, &path).unwrap();
        path
    }

    /// Writes a server certificate from `ca` and the web config `yaml`; returns the config's path.
    fn tls(&self, ca: &Ca, yaml: &str) -> String {
        self.install_certificate(ca, "server");
        self.write("client-ca.crt", &ca.pem);
        self.config(yaml)
    }

    /// Writes a server certificate from `ca` as `name`.crt and `name`.key, the key first,
    /// as a renewal does.
    fn install_certificate(&self, ca: &Ca, name: &str) {
        let (cert, key) = ca.issue(ExtendedKeyUsagePurpose::ServerAuth);
        self.write(&format!("{name}.key"), &key);
        self.write(&format!("{name}.crt"), &cert);
    }

    fn config(&self, yaml: &str) -> String {
        self.write("web.yml", yaml).to_str().unwrap().to_owned()
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

const TLS: &str = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";

fn demo(web_config: &str) -> Exporter {
    Exporter::start(&["--demo", &format!("--web.config.file={web_config}")], &[])
}

fn client(roots: &[&Ca], identity: Option<Identity>) -> Client {
    let mut builder = Client::builder()
        .tls_certs_only(roots.iter().map(|ca| ca.root()))
        .timeout(Duration::from_secs(10));
    if let Some(identity) = identity {
        builder = builder.identity(identity);
    }
    builder.build().unwrap()
}

/// Status and body, or the error's chain when the exchange failed.
async fn fetch(client: &Client, url: &str) -> Result<(u16, String), String> {
    match client.get(url).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            Ok((status, response.text().await.map_err(chain)?))
        }
        Err(error) => Err(chain(error)),
    }
}

fn chain(error: reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn https(exporter: &Exporter, path: &str) -> String {
    format!("https://{}{path}", exporter.address)
}

#[tokio::test]
async fn tls_serves_clients_that_trust_the_ca_and_only_them() {
    let ca = Ca::new("exporter CA");
    let dir = WebDir::new();
    let exporter = demo(&dir.tls(&ca, TLS));
    exporter
        .wait_for_log(&["msg=listening", "tls=true", "basic_auth=false"])
        .await;
    let (status, body) = fetch(&client(&[&ca], None), &https(&exporter, "/metrics"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(
        body.contains("# TYPE aliyun_cas_exporter_build_info gauge\n"),
        "{body}"
    );

    let stranger = Ca::new("another CA");
    let refused = fetch(&client(&[&stranger], None), &https(&exporter, "/metrics"))
        .await
        .unwrap_err();
    assert!(
        refused.contains("invalid peer certificate: UnknownIssuer"),
        "{refused}"
    );
    let plain = fetch(&Client::new(), &exporter.url("/metrics")).await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");
}

#[tokio::test]
async fn tls_versions_follow_min_version() {
    let ca = Ca::new("exporter CA");
    let dir = WebDir::new();
    let exporter = demo(&dir.tls(&ca, &format!("{TLS}  min_version: TLS13\n")));
    let tls12 = Client::builder()
        .tls_certs_only([ca.root()])
        .tls_version_max(reqwest::tls::Version::TLS_1_2)
        .build()
        .unwrap();
    let refused = fetch(&tls12, &https(&exporter, "/-/healthy"))
        .await
        .unwrap_err();
    assert!(
        refused.ends_with("received fatal alert: ProtocolVersion"),
        "{refused}"
    );
    let tls13 = client(&[&ca], None);
    assert_eq!(
        fetch(&tls13, &https(&exporter, "/-/healthy"))
            .await
            .unwrap(),
        (200, "Healthy\n".to_owned())
    );
}

#[tokio::test]
async fn basic_auth_answers_401_unless_the_password_is_right() {
    let dir = WebDir::new();
    let alice = bcrypt::hash("alice-password", 4).unwrap();
    let bob = bcrypt::hash("bob-password", 5).unwrap();
    let exporter = demo(&dir.config(&format!(
        "basic_auth_users:\n  alice: {alice}\n  bob: '{bob}'\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n    Content-Security-Policy: \"default-src 'none'\"\n"
    )));
    exporter
        .wait_for_log(&["msg=listening", "tls=false", "basic_auth=true"])
        .await;
    let http = Client::new();
    let url = exporter.url("/metrics");
    let send = |user: Option<(&str, &str)>| {
        let mut request = http.get(&url);
        if let Some((user, password)) = user {
            request = request.basic_auth(user, Some(password));
        }
        request.send()
    };
    for (who, credentials) in [
        ("nobody", None),
        ("wrong password", Some(("alice", "bob-password"))),
        ("unknown user", Some(("mallory", "alice-password"))),
        ("empty password", Some(("bob", ""))),
    ] {
        let response = send(credentials).await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "{who}");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Basic realm=\"aliyun-cas-exporter\", charset=\"UTF-8\"",
            "{who}"
        );
        assert_eq!(response.headers()["x-frame-options"], "deny", "{who}");
        assert_eq!(response.text().await.unwrap(), "Unauthorized\n", "{who}");
    }
    for (user, password) in [("alice", "alice-password"), ("bob", "bob-password")] {
        // Twice: the second answer comes from the cache of verified passwords.
        for _ in 0..2 {
            let response = send(Some((user, password))).await.unwrap();
            assert_eq!(response.status().as_u16(), 200, "{user}");
            assert_eq!(
                response.headers()["content-security-policy"],
                "default-src 'none'"
            );
            assert!(
                response
                    .text()
                    .await
                    .unwrap()
                    .contains("aliyun_cas_exporter_build_info")
            );
        }
    }
    let logs = exporter.logs().join("\n");
    assert!(
        !logs.contains("alice-password") && !logs.contains(&alice),
        "{logs}"
    );
}

/// Requests `url` every 50 ms (each may start a look at the files) until a log line
/// written after the first `since` holds every one of `parts`.
async fn poke_until_logged(
    exporter: &Exporter,
    client: &Client,
    url: &str,
    since: usize,
    parts: &[&str],
) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let _ = fetch(client, url).await;
        if let Some(line) = exporter
            .logs()
            .into_iter()
            .skip(since)
            .find(|l| parts.iter().all(|p| l.contains(p)))
        {
            return line;
        }
        assert!(
            Instant::now() < deadline,
            "no log line with {parts:?}; logs:\n{}",
            exporter.logs().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Requests `url` until the status is `want` (or the exchange fails, for `None`).
async fn poke_until(client: &Client, url: &str, want: Option<u16>, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while fetch(client, url).await.ok().map(|r| r.0) != want {
        assert!(Instant::now() < deadline, "{what} never happened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn changed_certificates_and_users_apply_without_a_restart() {
    let first = Ca::new("first CA");
    let dir = WebDir::new();
    let web = dir.tls(&first, TLS);
    let exporter = demo(&web);
    let url = https(&exporter, "/-/healthy");
    assert_eq!(fetch(&client(&[&first], None), &url).await.unwrap().0, 200);

    // A renewed certificate is served once both files are written.
    let second = Ca::new("second CA");
    let trusts_second = client(&[&second], None);
    dir.install_certificate(&second, "server");
    poke_until(
        &trusts_second,
        &url,
        Some(200),
        "serving the renewed certificate",
    )
    .await;

    // A broken key is refused once and the running certificate stays.
    let since = exporter.logs().len();
    dir.write("server.key", "not a key\n");
    let refused = poke_until_logged(
        &exporter,
        &trusts_second,
        &url,
        since,
        &["web config change refused"],
    )
    .await;
    let key_path = dir.path().join("server.key");
    assert!(
        refused.contains(&format!(
            "`tls_server_config.key_file`: {} holds no private key",
            key_path.display()
        )),
        "{refused}"
    );
    assert_eq!(fetch(&trusts_second, &url).await.unwrap().0, 200);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(fetch(&trusts_second, &url).await.unwrap().0, 200);
    let refusals = exporter.logs()[since..]
        .iter()
        .filter(|l| l.contains("web config change refused"))
        .count();
    assert_eq!(refusals, 1, "one bad write is reported once");

    // Files the refused config named are watched too: creating them applies it.
    let since = exporter.logs().len();
    dir.write(
        "web.yml",
        "tls_server_config:\n  cert_file: next.crt\n  key_file: next.key\n",
    );
    poke_until_logged(
        &exporter,
        &trusts_second,
        &url,
        since,
        &["web config change refused", "next.crt"],
    )
    .await;
    let third = Ca::new("third CA");
    let trusts_third = client(&[&third], None);
    dir.install_certificate(&third, "next");
    poke_until(
        &trusts_third,
        &url,
        Some(200),
        "serving the certificate named by the new config",
    )
    .await;

    // Users added later are asked for from the next request.
    let hash = bcrypt::hash("pw", 4).unwrap();
    dir.write("web.yml", &format!("tls_server_config:\n  cert_file: next.crt\n  key_file: next.key\nbasic_auth_users:\n  carol: {hash}\n"));
    poke_until(&trusts_third, &url, Some(401), "asking for a password").await;
    let as_carol = || {
        trusts_third
            .get(&url)
            .basic_auth("carol", Some("pw"))
            .send()
    };
    assert_eq!(as_carol().await.unwrap().status().as_u16(), 200);

    // Turning TLS off takes a restart: the change is refused, TLS stays, and the
    // running certificate is still watched.
    let since = exporter.logs().len();
    dir.write("web.yml", &format!("basic_auth_users:\n  carol: {hash}\n"));
    poke_until_logged(
        &exporter,
        &trusts_third,
        &url,
        since,
        &["turning TLS on or off needs a restart"],
    )
    .await;
    assert_eq!(as_carol().await.unwrap().status().as_u16(), 200);
    dir.install_certificate(&second, "next");
    poke_until(
        &trusts_second,
        &url,
        Some(401),
        "renewing the running certificate",
    )
    .await;
}

#[tokio::test]
async fn each_client_auth_type_asks_for_what_go_does_and_mutual_tls_holds() {
    let ca = Ca::new("exporter CA");
    let stranger = Ca::new("another CA");
    const REQUIRED: &str = "received fatal alert: CertificateRequired";
    const UNKNOWN: &str = "received fatal alert: UnknownCA";
    // Expected outcome without a certificate, with one from another CA, and with one from the CA.
    let cases = [
        ("RequestClientCert", None, None, None),
        ("RequireAnyClientCert", Some(REQUIRED), None, None),
        ("VerifyClientCertIfGiven", None, Some(UNKNOWN), None),
        (
            "RequireAndVerifyClientCert",
            Some(REQUIRED),
            Some(UNKNOWN),
            None,
        ),
    ];
    for (mode, anonymous, foreign, own) in cases {
        let dir = WebDir::new();
        let ca_line = if mode.contains("Verify") {
            "  client_ca_file: client-ca.crt\n"
        } else {
            ""
        };
        let exporter = demo(&dir.tls(&ca, &format!("{TLS}  client_auth_type: {mode}\n{ca_line}")));
        let url = https(&exporter, "/-/healthy");
        for (who, identity, expected) in [
            ("no certificate", None, anonymous),
            (
                "another CA's certificate",
                Some(stranger.client_identity()),
                foreign,
            ),
            ("the CA's certificate", Some(ca.client_identity()), own),
        ] {
            let outcome = fetch(&client(&[&ca], identity), &url).await;
            match expected {
                None => assert_eq!(outcome, Ok((200, "Healthy\n".to_owned())), "{mode}, {who}"),
                Some(alert) => {
                    let error = outcome.unwrap_err();
                    assert!(error.ends_with(alert), "{mode}, {who}: {error}");
                }
            }
        }
    }
}

#[test]
fn a_wrong_web_config_stops_start_up_and_says_where() {
    let dir = WebDir::new();
    let cases = [
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nrate_limit:\n  burst: 10\n",
            ":5:3: rate_limit: not supported by this exporter; --web.max-requests bounds the requests served at once".to_owned(),
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  keyfile: server.key\n",
            ":3:3: tls_server_config: unknown field `keyfile`, expected one of".to_owned(),
        ),
        (
            "tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n",
            format!(
                "cannot read cert_file {}: No such file or directory (os error 2); check the path set as tls_server_config.cert_file in ",
                dir.path().join("missing.crt").display()
            ),
        ),
        (
            "basic_auth_users:\n  alice: hunter2\n",
            ":2:10: basic_auth_users.alice: is not a bcrypt hash".to_owned(),
        ),
    ];
    for (yaml, expected) in cases {
        let web = dir.config(yaml);
        let (status, _, stderr) = run_to_end(
            &[
                "--demo",
                "--web.listen-address=127.0.0.1:0",
                &format!("--web.config.file={web}"),
            ],
            &[],
        );
        assert_eq!(status.code(), Some(1), "{yaml}");
        assert!(
            stderr.contains(&expected),
            "{yaml}\nexpected: {expected}\nstderr: {stderr}"
        );
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
}

#[test]
fn config_check_also_checks_the_web_config() {
    let ca = Ca::new("exporter CA");
    let dir = WebDir::new();
    let web = dir.tls(&ca, TLS);
    let config = config_file("endpoint: intl\njobs: [8888]\n");
    let env = KEY_ENV;
    let config_path = config.path.to_str().unwrap();
    let (status, stdout, stderr) = run_to_end(
        &[
            "--config.check",
            "--config.file",
            config_path,
            "--web.config.file",
            &web,
        ],
        &env,
    );
    assert!(status.success(), "{stderr}");
    assert_eq!(
        stdout,
        format!(
            "{web}: valid (TLS: on, basic auth: off)\n{config_path}: valid (accounts: 1, jobs listed by ID: 1, accounts with discovery: 0)\n  account default: endpoint https://cas.ap-southeast-1.aliyuncs.com/\n  account default: credentials: the default chain, trying in order: environment: static AccessKey LTAI**** from ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET\n"
        )
    );
    dir.write("server.key", "garbage\n");
    let (status, stdout, stderr) = run_to_end(
        &[
            "--config.check",
            "--config.file",
            config_path,
            "--web.config.file",
            &web,
        ],
        &env,
    );
    assert_eq!((status.code(), stdout.as_str()), (Some(1), ""));
    assert_eq!(
        stderr,
        format!(
            "web config (--web.config.file): {web}: `tls_server_config.key_file`: {}/server.key holds no private key in PEM (PKCS#8, PKCS#1 or SEC1)\n",
            dir.path().display()
        )
    );
}

/// An `Authorization: Basic` header value.
fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// Sends one GET on a kept-alive raw connection and reads the answer: its status.
async fn raw_get(
    stream: &mut tokio::net::TcpStream,
    path: &str,
    authorization: &str,
) -> std::io::Result<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nAuthorization: {authorization}\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0];
        if stream.read(&mut byte).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await?;
    Ok(head[9..12].parse().unwrap_or(0))
}

#[tokio::test]
async fn wrong_passwords_never_take_a_scrape_s_place() {
    let _heavy = support::heavy().await;
    const ATTACKERS: usize = 200;
    const SCRAPES: usize = 200;
    let dir = WebDir::new();
    let hash = bcrypt::hash("right-password", 4).unwrap();
    let web = dir.config(&format!("basic_auth_users:\n  prometheus: {hash}\n"));
    let exporter = Exporter::start(
        &[
            "--demo",
            &format!("--web.config.file={web}"),
            "--web.max-requests=4",
        ],
        &[],
    );
    let right = basic("prometheus", "right-password");
    let http = Client::new();
    let scrape = || {
        http.get(exporter.url("/metrics"))
            .header("authorization", &right)
            .send()
    };

    // A third repeat one wrong password (the failure cache answers), a third guess for the
    // user, a third guess users: both of those wait for bcrypt or are turned away. All
    // come from 127.0.0.1.
    let stop = tokio_util::sync::CancellationToken::new();
    let mut attackers = Vec::new();
    for n in 0..ATTACKERS {
        let (address, stop) = (exporter.address, stop.clone());
        attackers.push(tokio::spawn(async move {
            let mut answers = std::collections::BTreeMap::<u16, usize>::new();
            let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
            for attempt in 0.. {
                let authorization = match n % 3 {
                    0 => basic("prometheus", "wrong"),
                    1 => basic("prometheus", &format!("guess-{n}-{attempt}")),
                    _ => basic(&format!("user-{n}"), &format!("guess-{attempt}")),
                };
                let status = tokio::select! {
                    () = stop.cancelled() => break,
                    status = raw_get(&mut stream, "/metrics", &authorization) => status,
                };
                match status {
                    Ok(status) => *answers.entry(status).or_default() += 1,
                    Err(_) => stream = tokio::net::TcpStream::connect(address).await.unwrap(),
                }
            }
            answers
        }));
    }
    // Let the flood reach every connection before scraping.
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Prometheus's first check of its password, from another host than the flood's, finds
    // a place in the queue: one host holds only a few.
    let elsewhere = Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let first = elsewhere
        .get(exporter.url("/metrics"))
        .header("authorization", &right)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status().as_u16(), 200);
    let mut scrapes = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..SCRAPES {
        let outcome = match scrape().await {
            Ok(response) => response.status().as_u16().to_string(),
            Err(error) => chain(error),
        };
        *scrapes.entry(outcome).or_default() += 1;
    }
    stop.cancel();
    let mut flood = std::collections::BTreeMap::<u16, usize>::new();
    for attacker in attackers {
        for (status, count) in attacker.await.unwrap() {
            *flood.entry(status).or_default() += count;
        }
    }
    let served = scrapes.get("200").copied().unwrap_or(0);
    println!(
        "right-password scrapes answered 200: {served} of {SCRAPES} ({:.1} %); all: {scrapes:?}; wrong-password answers: {flood:?}",
        served as f64 * 100.0 / SCRAPES as f64
    );
    assert!(
        served * 100 >= SCRAPES * 99,
        "{scrapes:?}; flood: {flood:?}"
    );
    assert!(flood.get(&401).is_some_and(|&n| n > 0), "{flood:?}");
    assert_eq!(
        flood.keys().filter(|s| ![401, 429].contains(*s)).count(),
        0,
        "the flood gets 401 or 429 only: {flood:?}"
    );
}

#[test]
fn sigterm_ends_the_exporter_during_a_password_check_at_the_highest_cost() {
    let _heavy = support::heavy_blocking();
    let dir = WebDir::new();
    // A well-formed hash of the highest accepted cost: checking any password against it
    // takes seconds.
    let web = dir.config(
        "basic_auth_users:\n  slow: $2y$16$0o6aUQMxCQH2mYVGxKRyQO5qPZnNhmmwRgK2G2fNnt4lWFVtpSwiO\n",
    );
    let exporter = demo(&web);
    let address = exporter.address;
    let checking = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        let request = format!(
            "GET /metrics HTTP/1.1\r\nHost: test\r\nAuthorization: {}\r\n\r\n",
            basic("slow", "guess")
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
    });
    // Give the check time to start on its blocking thread.
    std::thread::sleep(Duration::from_secs(1));
    // Exiting takes the 5 s drain and a 1 s grace; the check alone would take 5 s in a
    // release build and 18 s in a debug one.
    let pid = exporter.pid();
    let sent = Instant::now();
    let exited = std::thread::spawn(move || {
        let stat = format!("/proc/{pid}/stat");
        while std::fs::read_to_string(&stat).is_ok_and(|s| !s.contains(") Z ")) {
            assert!(
                sent.elapsed() < Duration::from_secs(12),
                "still running 12 s after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    });
    let (status, logs) = exporter.terminate();
    exited.join().unwrap();
    assert!(status.success(), "{status:?}\n{}", logs.join("\n"));
    assert!(
        logs.iter().any(|l| l.contains("msg=stopped")),
        "{}",
        logs.join("\n")
    );
    checking.join().unwrap();
}

#[tokio::test]
async fn secrets_readable_by_others_are_warned_about_at_load_reload_and_check() {
    use std::os::unix::fs::PermissionsExt;
    let dir = WebDir::new();
    let hash = bcrypt::hash("pw", 4).unwrap();
    let web = dir.config(&format!("basic_auth_users:\n  a: {hash}\n"));
    std::fs::set_permissions(&web, std::fs::Permissions::from_mode(0o644)).unwrap();
    let warning = format!(
        "{web} holds password hashes and is readable by group or others (mode 644): run chmod 600 {web}"
    );
    let config = config_file("endpoint: intl\njobs: [8888]\n");
    let env = KEY_ENV;
    let config_path = config.path.to_str().unwrap();
    let check = [
        "--config.check",
        "--config.file",
        config_path,
        "--web.config.file",
        &web,
    ];
    let (status, _, stderr) = run_to_end(&check, &env);
    assert!(status.success(), "{stderr}");
    assert_eq!(stderr, format!("warning: {warning}\n"));

    let exporter = demo(&web);
    let logged = |exporter: &Exporter| {
        exporter
            .logs()
            .iter()
            .filter(|l| l.contains("level=warn") && l.contains(&warning))
            .count()
    };
    assert_eq!(logged(&exporter), 1, "{}", exporter.logs().join("\n"));
    // A reload reads the file again, and warns again.
    let since = exporter.logs().len();
    dir.write("web.yml", &format!("basic_auth_users:\n  b: {hash}\n"));
    std::fs::set_permissions(&web, std::fs::Permissions::from_mode(0o644)).unwrap();
    poke_until_logged(
        &exporter,
        &Client::new(),
        &exporter.url("/-/healthy"),
        since,
        &["web config reloaded"],
    )
    .await;
    assert_eq!(logged(&exporter), 2, "{}", exporter.logs().join("\n"));
    let (status, _, stderr) = {
        std::fs::set_permissions(&web, std::fs::Permissions::from_mode(0o600)).unwrap();
        run_to_end(&check, &env)
    };
    assert!(status.success() && stderr.is_empty(), "{stderr}");
}

#[tokio::test]
async fn one_client_holding_connections_cannot_keep_a_scrape_out() {
    use tokio::io::AsyncReadExt;
    let exporter = Exporter::start(&["--demo", "--web.max-connections=2"], &[]);
    // One client opens connection after connection and keeps each alive: every one
    // is served, because each new one makes the oldest close.
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut stream = tokio::net::TcpStream::connect(exporter.address)
            .await
            .unwrap();
        let status = tokio::time::timeout(
            Duration::from_secs(20),
            raw_get(&mut stream, "/-/healthy", "none"),
        )
        .await
        .expect("a connection beyond the cap was never served");
        assert_eq!(status.unwrap(), 200);
        held.push(stream);
    }
    let mut still_open = 0;
    for stream in &mut held {
        let mut byte = [0; 1];
        match tokio::time::timeout(Duration::from_secs(3), stream.read(&mut byte)).await {
            Ok(Ok(0) | Err(_)) => {}
            Ok(Ok(_)) => panic!("unexpected bytes on an idle connection"),
            Err(_) => still_open += 1,
        }
    }
    // The cap and its margin of an eighth (at least one) pending close.
    assert!(still_open <= 3, "{still_open} of 20 connections still open");
    let fresh = tokio::net::TcpStream::connect(exporter.address).await;
    assert_eq!(
        raw_get(&mut fresh.unwrap(), "/metrics", "none")
            .await
            .unwrap(),
        200
    );
}

#[tokio::test]
async fn a_connection_cap_that_risks_the_descriptors_is_warned_about() {
    let exporter = Exporter::start(&["--demo", "--web.max-connections=0"], &[]);
    let line = exporter
        .wait_for_log(&[
            "level=warn",
            "--web.max-connections is 0 (no cap) or above half the open-file limit",
        ])
        .await;
    assert!(line.contains("max_connections=0"), "{line}");
    let capped = Exporter::start(&["--demo", "--web.max-connections=2"], &[]);
    capped.wait_ready().await;
    assert!(
        !capped
            .logs()
            .iter()
            .any(|l| l.contains("--web.max-connections is")),
        "{}",
        capped.logs().join("\n")
    );
}
