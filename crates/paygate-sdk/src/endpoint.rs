//! Where the server is, checked before any credential goes to it.

use reqwest::Url;

use crate::error::Error;

/// Where the server is: an `https` origin, with an optional path prefix.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub host: String,
    pub port: u16,
    /// `https://host:port/prefix`, without a trailing slash.
    pub base: String,
    /// The path prefix (empty, or `/something` without a trailing slash).
    pub prefix: String,
}

impl Endpoint {
    /// Credentials go only to a plain `https` URL: no user info (which some
    /// tools would send elsewhere), no query or fragment.
    pub(crate) fn parse(text: &str) -> Result<Self, Error> {
        let url = Url::parse(text).map_err(|_| Error::Config("the base URL is not a URL".to_owned()))?;
        if url.scheme() != "https" {
            return Err(Error::Config(
                "the base URL must be https: credentials are never sent in clear".to_owned(),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::Config("the base URL must not carry user info".to_owned()));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Error::Config(
                "the base URL must not carry a query or fragment".to_owned(),
            ));
        }
        let host = url
            .host_str()
            .ok_or_else(|| Error::Config("the base URL has no host".to_owned()))?
            .to_owned();
        let port = url.port_or_known_default().unwrap_or(443);
        let prefix = url.path().trim_end_matches('/').to_owned();
        Ok(Endpoint {
            base: format!("https://{}:{port}{prefix}", url.host_str().unwrap_or_default()),
            host: host.trim_start_matches('[').trim_end_matches(']').to_owned(),
            port,
            prefix,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_only_to_a_plain_https_origin() {
        for bad in [
            "http://localhost:8443",
            "https://user:pw@localhost:8443",
            "https://localhost:8443/?x=1",
            "https://localhost:8443/#f",
            "ftp://localhost",
            "not a url",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
        let e = Endpoint::parse("https://localhost:8443/").unwrap();
        assert_eq!((e.host.as_str(), e.port, e.prefix.as_str()), ("localhost", 8443, ""));
        let e = Endpoint::parse("https://[::1]/paygate/").unwrap();
        assert_eq!((e.host.as_str(), e.port, e.prefix.as_str()), ("::1", 443, "/paygate"));
    }
}
