//! The realtime socket (docs/api.md section 9): the merchant's events pushed as
//! they happen, the same objects webhooks deliver.

use futures_util::StreamExt as _;
use paygate_proto::realtime::CreateRealtimeToken;
use paygate_proto::webhooks::Event;
use rustls::pki_types::ServerName;
use secrecy::{ExposeSecret as _, SecretString};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::client::Client;
use crate::error::Error;

/// One event as received: its raw text (what a webhook receiver would get
/// as the body) and its decoded form.
#[derive(Debug, Clone)]
pub struct ReceivedEvent {
    pub raw: String,
    pub event: Event,
}

/// An open realtime socket.
pub struct RealtimeEvents {
    socket: WebSocketStream<TlsStream<TcpStream>>,
}

impl std::fmt::Debug for RealtimeEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RealtimeEvents")
    }
}

impl RealtimeEvents {
    /// The next event, or `None` once the server has closed the socket.
    pub async fn next_event(&mut self) -> Result<Option<ReceivedEvent>, Error> {
        while let Some(message) = self.socket.next().await {
            match message.map_err(|e| Error::Realtime(e.to_string()))? {
                Message::Text(text) => {
                    let raw = text.as_str().to_owned();
                    let event = serde_json::from_str(&raw).map_err(|e| Error::Decode {
                        status: 101,
                        message: e.to_string(),
                    })?;
                    return Ok(Some(ReceivedEvent { raw, event }));
                }
                Message::Close(_) => return Ok(None),
                _ => continue,
            }
        }
        Ok(None)
    }
}

impl Client {
    /// Mints a socket token and opens `wss://…/v1/realtime`, over the same
    /// verified TLS as every other request.
    pub async fn realtime(&self, request: &CreateRealtimeToken) -> Result<RealtimeEvents, Error> {
        let token = SecretString::from(self.create_realtime_token(request).await?.ws_token);
        let endpoint = self.endpoint();
        let name = ServerName::try_from(endpoint.host.clone())
            .map_err(|_| Error::Config("the base URL's host is not a valid TLS name".to_owned()))?;
        let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
            .await
            .map_err(|e| Error::Realtime(e.kind().to_string()))?;
        let tls = tokio_rustls::TlsConnector::from(self.tls())
            .connect(name, tcp)
            .await
            .map_err(|e| Error::Realtime(format!("TLS: {e}")))?;
        // The token is single-use and expires in 60 s; it is in the URL
        // because browsers can send nothing else with a socket.
        let url = format!(
            "wss://{}/v1/realtime?ws_token={}",
            endpoint.base.trim_start_matches("https://"),
            token.expose_secret()
        );
        let (socket, _) = tokio_tungstenite::client_async(url, tls).await.map_err(|e| match e {
            tokio_tungstenite::tungstenite::Error::Http(response) => {
                Error::Realtime(format!("the server refused the socket ({})", response.status()))
            }
            other => Error::Realtime(other.to_string()),
        })?;
        Ok(RealtimeEvents { socket })
    }
}
