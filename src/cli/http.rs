//! The HTTP(S) client the subcommands that talk to a server share (`vouch audit`,
//! `vouch verify --url`): `http://` and `https://` URLs, trusting the system's roots plus
//! `--ca-file`, and transport failures said in words rather than as a library's error chain.

use std::path::Path;
use std::time::Duration;

use crate::tls;

/// An agent for `url`: TLS (1.2 or 1.3) for `https://`, trusting the system roots and `ca_file`.
pub fn agent(url: &str, ca_file: Option<&Path>, timeout: Duration) -> Result<ureq::Agent, String> {
    let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or("");
    let builder = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(10))
        .timeout(timeout);
    match scheme {
        "http" if ca_file.is_none() => Ok(builder.build()),
        "http" => Err("--ca-file is for https:// URLs".into()),
        "https" => {
            let config = tls::client_config(ca_file).map_err(|e| e.to_string())?;
            Ok(builder.tls_config(config).build())
        }
        _ => Err(format!(
            "{url:?}: the URL must start with http:// or https://"
        )),
    }
}

/// The rustls error somewhere in `e`'s chain of sources (directly, or inside an I/O error).
fn tls_cause<'e>(e: &'e (dyn std::error::Error + 'static)) -> Option<&'e rustls::Error> {
    let mut source = Some(e);
    while let Some(s) = source {
        if let Some(tls) = s.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(tls) = s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls);
        }
        source = s.source();
    }
    None
}

/// A transport failure (no HTTP status) in words: an untrusted certificate says how to trust it.
pub fn describe(url: &str, e: &ureq::Transport) -> String {
    match tls_cause(e) {
        Some(rustls::Error::InvalidCertificate(why)) => format!(
            "{url}: the server's TLS certificate is not trusted ({why:?}); pass --ca-file with \
             the certificate of the authority that signed it"
        ),
        Some(other) => format!("{url}: TLS failed: {other}"),
        None => match e.kind() {
            ureq::ErrorKind::ConnectionFailed => format!("{url}: cannot connect: {e}"),
            ureq::ErrorKind::Dns => format!("{url}: the host name does not resolve: {e}"),
            _ => format!("{url}: {e}"),
        },
    }
}
