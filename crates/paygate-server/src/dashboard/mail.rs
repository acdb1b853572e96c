//! Mail: through SMTP when `smtp.url` is set, otherwise written as `.eml`
//! files to `DATA_DIR/outbox/` (the sandbox's inbox).

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::app::AppState;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail could not be built: {0}")]
    Build(String),
    #[error("mail could not be sent: {0}")]
    Send(String),
}

/// Sends a plain-text message to `to`, a bare address (never a display
/// name with another address in angle brackets).
pub async fn send(state: &AppState, to: &str, subject: &str, body: String) -> Result<(), MailError> {
    let config = &state.config().smtp;
    let message = Message::builder()
        .from(
            config
                .from
                .parse()
                .map_err(|e| MailError::Build(format!("smtp.from: {e}")))?,
        )
        .to(Mailbox::new(
            None,
            crate::merchants::parse_email(to)
                .ok_or_else(|| MailError::Build("recipient is not a bare address".to_owned()))?,
        ))
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| MailError::Build(e.to_string()))?;
    if config.url.is_empty() {
        let dir = state.config().data_dir.join("outbox");
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| MailError::Send(e.to_string()))?;
        AsyncFileTransport::<Tokio1Executor>::new(dir)
            .send(message)
            .await
            .map_err(|e| MailError::Send(e.to_string()))?;
    } else {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&config.url)
            .map_err(|e| MailError::Send(e.to_string()))?
            .build();
        transport
            .send(message)
            .await
            .map_err(|e| MailError::Send(e.to_string()))?;
    }
    Ok(())
}
