"""docs/api.md section 1, checked by sslyze: only TLS 1.2 and 1.3, no weak
suites, and a certificate that matches the host."""

from pathlib import Path

from sslyze import (
    CertificateInfoExtraArgument,
    ScanCommand,
    ScanCommandsExtraArguments,
    Scanner,
    ServerNetworkLocation,
    ServerScanRequest,
    ServerScanStatusEnum,
)

WEAK_MARKERS = ("NULL", "EXPORT", "anon", "RC4", "DES", "MD5", "CBC", "_SHA\0")


def scan(server):
    port = int(server.base_url.rsplit(":", 1)[1])
    location = ServerNetworkLocation(hostname="localhost", port=port, ip_address="127.0.0.1")
    request = ServerScanRequest(
        server_location=location,
        scan_commands={
            ScanCommand.SSL_2_0_CIPHER_SUITES,
            ScanCommand.SSL_3_0_CIPHER_SUITES,
            ScanCommand.TLS_1_0_CIPHER_SUITES,
            ScanCommand.TLS_1_1_CIPHER_SUITES,
            ScanCommand.TLS_1_2_CIPHER_SUITES,
            ScanCommand.TLS_1_3_CIPHER_SUITES,
            ScanCommand.CERTIFICATE_INFO,
        },
        # Trust the server's local CA, so validation covers chain and host name.
        scan_commands_extra_arguments=ScanCommandsExtraArguments(
            certificate_info=CertificateInfoExtraArgument(custom_ca_file=Path(server.ca_path).with_name("ca.pem"))
        ),
    )
    scanner = Scanner()
    scanner.queue_scans([request])
    result = next(iter(scanner.get_results()))
    assert result.scan_status == ServerScanStatusEnum.COMPLETED
    return result.scan_result


def test_tls_versions_suites_and_certificate(server):
    result = scan(server)
    for old in ("ssl_2_0_cipher_suites", "ssl_3_0_cipher_suites", "tls_1_0_cipher_suites", "tls_1_1_cipher_suites"):
        attempt = getattr(result, old)
        assert attempt.result is not None, old
        assert attempt.result.accepted_cipher_suites == [], f"{old} must not be offered"

    tls12 = [s.cipher_suite.name for s in result.tls_1_2_cipher_suites.result.accepted_cipher_suites]
    tls13 = [s.cipher_suite.name for s in result.tls_1_3_cipher_suites.result.accepted_cipher_suites]
    assert tls12, "TLS 1.2 is offered"
    assert tls13, "TLS 1.3 is offered"
    for name in tls12:
        assert "ECDHE" in name, f"{name}: forward secrecy"
        assert "GCM" in name or "CHACHA20" in name, f"{name}: AEAD only"
        assert not any(marker in name for marker in WEAK_MARKERS), name

    deployment = result.certificate_info.result.certificate_deployments[0]
    custom = [r for r in deployment.path_validation_results if r.trust_store.name == "Supplied CA file"]
    assert custom, [r.trust_store.name for r in deployment.path_validation_results]
    assert custom[0].was_validation_successful, custom[0].validation_error
