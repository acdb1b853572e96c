//! The egress guard: which webhook URLs and addresses Paygate may reach.
//! URLs are vetted for what they show (scheme, user info, host names, every
//! numeric spelling of an address, which the WHATWG parser of `url`
//! normalises), and each delivery resolves the name through a substitutable
//! [`Resolve`], refuses if any answer is internal, and connects to exactly
//! the addresses it checked (see [`GuardedResolver`]).

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, OnceLock, RwLock};

use paygate_proto::Environment;
use url::{Host, Url};

/// The longest URL an endpoint may have.
pub const MAX_URL_LEN: usize = 2048;

/// What the guard allows for one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub https_only: bool,
    /// Loopback, private, link-local, CGNAT and unique-local targets
    /// (never metadata services, multicast or reserved ranges).
    pub allow_private: bool,
}

impl Policy {
    /// Live mode: https only and no private targets, whatever the config says.
    pub fn for_env(env: Environment, allow_private_targets: bool) -> Self {
        match env {
            Environment::Live => Policy {
                https_only: true,
                allow_private: false,
            },
            Environment::Test => Policy {
                https_only: false,
                allow_private: allow_private_targets,
            },
        }
    }
}

/// Why a URL or an address is refused. The text is safe to show the merchant
/// who owns the URL; it never names a resolved address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("The URL is not a valid absolute URL of at most 2048 characters.")]
    Malformed,
    #[error("Webhook URLs must use https in live mode (http is allowed in test mode).")]
    Scheme,
    #[error("Webhook URLs may not carry user information (user:password@).")]
    UserInfo,
    #[error("The URL's host is a local, internal or cloud metadata name.")]
    InternalName,
    #[error("The URL's host is, or resolves to, an address that is not publicly routable.")]
    InternalAddress,
}

/// Where a vetted URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetHost {
    Address(IpAddr),
    Name(String),
}

/// Checks what a URL shows, without resolving it.
pub fn vet_url(raw: &str, policy: Policy) -> Result<(Url, TargetHost), Refusal> {
    if raw.len() > MAX_URL_LEN || raw.trim() != raw {
        return Err(Refusal::Malformed);
    }
    let url = Url::parse(raw).map_err(|_| Refusal::Malformed)?;
    match url.scheme() {
        "https" => {}
        "http" if !policy.https_only => {}
        _ => return Err(Refusal::Scheme),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refusal::UserInfo);
    }
    let host = match url.host() {
        Some(Host::Ipv4(ip)) => {
            vet_address(IpAddr::V4(ip), policy)?;
            TargetHost::Address(IpAddr::V4(ip))
        }
        Some(Host::Ipv6(ip)) => {
            vet_address(IpAddr::V6(ip), policy)?;
            TargetHost::Address(IpAddr::V6(ip))
        }
        Some(Host::Domain(name)) => {
            let name = vet_name(name, policy)?;
            TargetHost::Name(name)
        }
        None => return Err(Refusal::Malformed),
    };
    Ok((url, host))
}

/// Host names that always point inside: metadata services and local names.
const METADATA_NAMES: &[&str] = &[
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "metadata.azure.internal",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.tencentyun.com",
    "metadata.platformequinix.com",
];

/// Suffixes of names that are local or internal by convention or by RFC.
const INTERNAL_SUFFIXES: &[&str] = &[
    ".localhost",
    ".local",
    ".localdomain",
    ".internal",
    ".intranet",
    ".corp",
    ".lan",
    ".home.arpa",
    ".in-addr.arpa",
    ".ip6.arpa",
];

fn vet_name(name: &str, policy: Policy) -> Result<String, Refusal> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if name.is_empty() || METADATA_NAMES.contains(&name.as_str()) {
        return Err(Refusal::InternalName);
    }
    let dotted = format!(".{name}");
    let local = name == "localhost" || INTERNAL_SUFFIXES.iter().any(|suffix| dotted.ends_with(suffix));
    // A single label resolves through search domains to internal hosts.
    let single_label = !name.contains('.');
    if (local || single_label) && !(policy.allow_private && (name == "localhost" || name.ends_with(".localhost"))) {
        return Err(Refusal::InternalName);
    }
    Ok(name)
}

/// Checks one address, as the URL shows it or as its name resolved.
pub fn vet_address(ip: IpAddr, policy: Policy) -> Result<(), Refusal> {
    match classify(ip) {
        Class::Public => Ok(()),
        Class::Private if policy.allow_private => Ok(()),
        Class::Private | Class::Never => Err(Refusal::InternalAddress),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Public,
    /// Reachable on a private network: allowed in test mode by configuration.
    Private,
    /// Never a webhook target: metadata services, unspecified, multicast,
    /// broadcast, documentation and reserved ranges.
    Never,
}

fn classify(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Class {
    let [a, b, c, _] = ip.octets();
    // Cloud metadata services (AWS/GCP/Azure/OpenStack, Alibaba).
    if ip == Ipv4Addr::new(169, 254, 169, 254)
        || ip == Ipv4Addr::new(169, 254, 170, 2)
        || ip == Ipv4Addr::new(100, 100, 100, 200)
    {
        return Class::Never;
    }
    match (a, b, c) {
        (127, _, _) | (10, _, _) | (192, 168, _) | (169, 254, _) => Class::Private,
        (172, b, _) if (16..=31).contains(&b) => Class::Private,
        // CGNAT, RFC 6598.
        (100, b, _) if (64..=127).contains(&b) => Class::Private,
        // "This network", IETF protocol assignments, documentation,
        // 6to4 relay anycast, benchmarking, multicast, reserved, broadcast.
        (0, _, _) | (192, 0, 0) | (192, 0, 2) | (192, 88, 99) | (198, 51, 100) | (203, 0, 113) => Class::Never,
        (198, b, _) if b == 18 || b == 19 => Class::Never,
        (a, _, _) if a >= 224 => Class::Never,
        _ => Class::Public,
    }
}

fn embedded_v4(segments: &[u16; 8], from: usize) -> Ipv4Addr {
    let hi = segments.get(from).copied().unwrap_or_default();
    let lo = segments.get(from + 1).copied().unwrap_or_default();
    Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8)
}

fn classify_v6(ip: Ipv6Addr) -> Class {
    let s = ip.segments();
    if ip == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254) {
        return Class::Never; // AWS metadata over IPv6
    }
    if ip.is_loopback() {
        return Class::Private;
    }
    match s {
        // Unspecified, and the deprecated IPv4-compatible ::a.b.c.d.
        [0, 0, 0, 0, 0, 0, _, _] => Class::Never,
        // IPv4-mapped ::ffff:a.b.c.d and IPv4-translated ::ffff:0:a.b.c.d.
        [0, 0, 0, 0, 0, 0xffff, _, _] => classify_v4(embedded_v4(&s, 6)),
        [0, 0, 0, 0, 0xffff, 0, _, _] => classify_v4(embedded_v4(&s, 6)),
        // NAT64 well-known prefix 64:ff9b::/96: judged by the IPv4 inside.
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => classify_v4(embedded_v4(&s, 6)),
        // Local-use NAT64 64:ff9b:1::/48: a private translator.
        [0x64, 0xff9b, 1, ..] => Class::Private,
        // 6to4 2002::/16 carries an IPv4 address in bits 16..48.
        [0x2002, ..] => match classify_v4(embedded_v4(&s, 1)) {
            Class::Public => Class::Public,
            _ => Class::Never,
        },
        // Discard-only 100::/64.
        [0x100, 0, 0, 0, ..] => Class::Never,
        // Documentation 2001:db8::/32 and 3fff::/20.
        [0x2001, 0x0db8, ..] => Class::Never,
        [a, ..] if a & 0xfff0 == 0x3ff0 => Class::Never,
        // IETF protocol assignments 2001::/23 (Teredo, ORCHID, ...).
        [0x2001, b, ..] if b < 0x0200 => Class::Never,
        // Unique local fc00::/7, link-local fe80::/10.
        [a, ..] if a & 0xfe00 == 0xfc00 => Class::Private,
        [a, ..] if a & 0xffc0 == 0xfe80 => Class::Private,
        // Everything outside global unicast 2000::/3 (site-local, multicast, reserved).
        [a, ..] if a & 0xe000 != 0x2000 => Class::Never,
        _ => Class::Public,
    }
}

/// A DNS resolver. Substitutable, so tests can make a name resolve anywhere.
pub trait Resolve: Send + Sync + 'static {
    fn lookup<'a>(&'a self, host: &'a str) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>>;
}

/// The real resolver: hickory, with the system's configuration (or its
/// defaults when there is none), built on first use.
#[derive(Default)]
pub struct HickoryResolver {
    inner: OnceLock<hickory_resolver::TokioResolver>,
}

impl HickoryResolver {
    fn resolver(&self) -> &hickory_resolver::TokioResolver {
        self.inner.get_or_init(|| match hickory_resolver::TokioResolver::builder_tokio() {
            Ok(builder) => builder.build(),
            Err(err) => {
                tracing::warn!(error = %err, "no system DNS configuration; webhook deliveries use hickory's default resolvers");
                hickory_resolver::TokioResolver::builder_with_config(
                    hickory_resolver::config::ResolverConfig::default(),
                    hickory_resolver::name_server::TokioConnectionProvider::default(),
                )
                .build()
            }
        })
    }
}

impl Resolve for HickoryResolver {
    fn lookup<'a>(&'a self, host: &'a str) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>> {
        Box::pin(async move {
            // A trailing dot stops search-domain expansion.
            let fqdn = format!("{}.", host.trim_end_matches('.'));
            let answer = self.resolver().lookup_ip(fqdn).await.map_err(io::Error::other)?;
            Ok(answer.iter().collect())
        })
    }
}

/// A fixed table of names, for tests and benchmarks.
#[derive(Debug, Default, Clone)]
pub struct StaticResolver {
    names: std::collections::HashMap<String, Vec<IpAddr>>,
}

impl StaticResolver {
    pub fn with(mut self, name: &str, addresses: &[IpAddr]) -> Self {
        self.names.insert(name.to_ascii_lowercase(), addresses.to_vec());
        self
    }
}

impl Resolve for StaticResolver {
    fn lookup<'a>(&'a self, host: &'a str) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>> {
        let found = self
            .names
            .get(&host.trim_end_matches('.').to_ascii_lowercase())
            .cloned();
        Box::pin(async move { found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such name")) })
    }
}

/// The resolver in use, replaceable while the server runs (tests).
#[derive(Clone)]
pub struct ResolverSlot(Arc<RwLock<Arc<dyn Resolve>>>);

impl Default for ResolverSlot {
    fn default() -> Self {
        Self(Arc::new(RwLock::new(Arc::new(HickoryResolver::default()))))
    }
}

impl ResolverSlot {
    pub fn set(&self, resolver: Arc<dyn Resolve>) {
        let mut slot = self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        *slot = resolver;
    }

    pub fn get(&self) -> Arc<dyn Resolve> {
        self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

/// Resolves `name` and vets every answer: if any is refused, all are.
pub async fn resolve_checked(resolver: &dyn Resolve, name: &str, policy: Policy) -> Result<Vec<IpAddr>, EgressError> {
    let addresses = resolver.lookup(name).await.map_err(|_| EgressError::Resolve)?;
    if addresses.is_empty() {
        return Err(EgressError::Resolve);
    }
    for ip in &addresses {
        vet_address(*ip, policy).map_err(EgressError::Refused)?;
    }
    Ok(addresses)
}

/// Why the guard stopped a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    #[error("the host name did not resolve")]
    Resolve,
    #[error("refused by the egress guard: {0}")]
    Refused(Refusal),
}

/// The HTTP client's resolver: every connection it opens goes to addresses
/// this just resolved and vetted, so a name cannot be re-pointed between
/// the check and the connection (DNS rebinding).
pub struct GuardedResolver {
    pub slot: ResolverSlot,
    pub policy: Policy,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = self.slot.get();
        let policy = self.policy;
        Box::pin(async move {
            let checked = resolve_checked(resolver.as_ref(), name.as_str(), policy).await?;
            let addrs: reqwest::dns::Addrs = Box::new(checked.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: Policy = Policy {
        https_only: true,
        allow_private: false,
    };
    const TEST_PRIVATE: Policy = Policy {
        https_only: false,
        allow_private: true,
    };

    #[test]
    fn numeric_spellings_normalise_to_the_address_they_mean() {
        for (raw, ip) in [
            ("https://2130706433/", "127.0.0.1"),
            ("https://0177.0.0.1/", "127.0.0.1"),
            ("https://0x7f.1/", "127.0.0.1"),
            ("https://127.1/", "127.0.0.1"),
            ("https://0xa9fea9fe/", "169.254.169.254"),
            ("https://[::ffff:7f00:1]/", "::ffff:127.0.0.1"),
        ] {
            let policy = Policy {
                https_only: true,
                allow_private: true,
            };
            match vet_url(raw, policy) {
                Ok((_, TargetHost::Address(found))) => assert_eq!(found, ip.parse::<IpAddr>().unwrap(), "{raw}"),
                Err(Refusal::InternalAddress) => assert_eq!(ip, "169.254.169.254", "{raw}"),
                other => panic!("{raw}: {other:?}"),
            }
        }
    }

    #[test]
    fn address_classes() {
        let never = [
            "0.0.0.0",
            "169.254.169.254",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::",
            "ff02::1",
            "2001:db8::1",
            "fd00:ec2::254",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
        ];
        let private = [
            "127.0.0.1",
            "10.1.2.3",
            "172.31.255.255",
            "192.168.0.1",
            "100.64.0.1",
            "169.254.1.1",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
        ];
        let public = [
            "93.184.215.14",
            "8.8.8.8",
            "172.32.0.1",
            "2606:4700::1111",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ];
        for ip in never {
            assert_eq!(classify(ip.parse().unwrap()), Class::Never, "{ip}");
            assert!(vet_address(ip.parse().unwrap(), TEST_PRIVATE).is_err(), "{ip}");
        }
        for ip in private {
            assert_eq!(classify(ip.parse().unwrap()), Class::Private, "{ip}");
            assert!(vet_address(ip.parse().unwrap(), LIVE).is_err(), "{ip}");
            assert!(vet_address(ip.parse().unwrap(), TEST_PRIVATE).is_ok(), "{ip}");
        }
        for ip in public {
            assert_eq!(classify(ip.parse().unwrap()), Class::Public, "{ip}");
        }
    }

    #[tokio::test]
    async fn names_are_resolved_and_every_answer_vetted() {
        let resolver = StaticResolver::default()
            .with("internal.example.com", &["10.0.0.1".parse().unwrap()])
            .with(
                "mixed.example.com",
                &["93.184.215.14".parse().unwrap(), "127.0.0.1".parse().unwrap()],
            )
            .with("example.com", &["93.184.215.14".parse().unwrap()]);
        assert_eq!(
            resolve_checked(&resolver, "internal.example.com", LIVE).await,
            Err(EgressError::Refused(Refusal::InternalAddress))
        );
        assert!(resolve_checked(&resolver, "mixed.example.com", LIVE).await.is_err());
        assert_eq!(
            resolve_checked(&resolver, "example.com", LIVE).await.unwrap(),
            vec!["93.184.215.14".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            resolve_checked(&resolver, "nowhere.example.com", LIVE).await,
            Err(EgressError::Resolve)
        );
        assert!(vet_url("https://example.com/hook", LIVE).is_ok());
        assert_eq!(vet_url("http://example.com/hook", LIVE), Err(Refusal::Scheme));
        assert_eq!(vet_url("https://localhost:3000/", LIVE), Err(Refusal::InternalName));
        assert!(vet_url("http://localhost:3000/", TEST_PRIVATE).is_ok());
        assert_eq!(
            vet_url("http://metadata.google.internal/", TEST_PRIVATE),
            Err(Refusal::InternalName)
        );
    }
}
