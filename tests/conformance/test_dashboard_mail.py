"""Dashboard mail over SMTP (docs/api.md section 11): with `smtp.url` set, the
verification link and a one-time code reach a real SMTP server (aiosmtpd)
started by the test, and nothing is written to the outbox directory."""

import email
import email.policy
import os
import re
import socket
import time

import pytest
from aiosmtpd.controller import Controller


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def wait_for(self, subject, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for mail_from, rcpt_tos, message in self.messages:
                if subject in message["subject"]:
                    return mail_from, rcpt_tos, message
            time.sleep(0.05)
        raise AssertionError(f"no mail with subject {subject!r}: {[m['subject'] for _, _, m in self.messages]}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


def csrf_of(html):
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_verification_and_one_time_code_go_through_smtp(server_factory, smtp):
    controller, inbox = smtp
    server = server_factory(
        {
            "PAYGATE_SMTP__URL": f"smtp://127.0.0.1:{controller.port}",
            "PAYGATE_SMTP__FROM": "Paygate <no-reply@paygate.test>",
        }
    )
    browser = server.session()
    browser.headers.pop("x-api-key")
    csrf = csrf_of(browser.get(server.url("/dashboard/register")).text)
    registered = browser.post(
        server.url("/dashboard/register"),
        data={"csrf": csrf, "email": "mail@example.com", "password": "a long enough password", "country": "ZA"},
    )
    assert "Check your email" in registered.text

    mail_from, rcpt_tos, message = inbox.wait_for("Verify your email")
    assert mail_from == "no-reply@paygate.test"
    assert rcpt_tos == ["mail@example.com"]
    body = message.get_content()
    link = re.search(r"https://\S+(/dashboard/verify\?token=[A-Za-z0-9_-]+)", body).group(1)
    assert "Email verified" in browser.get(server.url(link)).text

    signed_in = browser.post(
        server.url("/dashboard/login"),
        data={"csrf": csrf, "email": "mail@example.com", "password": "a long enough password"},
        allow_redirects=False,
    )
    assert signed_in.status_code == 303
    sent = browser.post(
        server.url("/dashboard/codes"),
        data={"csrf": csrf, "purpose": "payout_approval", "back": "/dashboard/withdrawals"},
        allow_redirects=False,
    )
    assert sent.headers["location"] == "/dashboard/withdrawals?done=code_sent"
    _, rcpt_tos, message = inbox.wait_for("confirmation code")
    assert rcpt_tos == ["mail@example.com"]
    assert re.search(r"^\s+\d{6}\s*$", message.get_content(), re.MULTILINE)

    outbox = os.path.join(server.data_dir, "outbox")
    assert not os.path.isdir(outbox) or os.listdir(outbox) == [], "SMTP mail is not also written to the outbox"
