"""A TLS cluster: mutual TLS between nodes, TLS clients served, the rest refused."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import grpc
import pytest
from click.testing import CliRunner
from cryptography import x509

from manhattan.cli.main import cli
from manhattan.client import (
    Client, Consistency, RetryPolicy, RoundRobinPolicy, Timeout, TlsFiles, Unavailable,
)
from manhattan.node.cluster_file import read_cluster_file
from manhattan.node.config import ConfigError, load_config
from manhattan.node.local_cluster import LocalCluster
from manhattan.proto.v1 import peer_pb2
from manhattan.security.certs import init_dev_certs
from tests.clusters import acked_by_all, eventually


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory) -> Iterator[LocalCluster]:
    local = LocalCluster(tmp_path_factory.mktemp("tls"), nodes=3, base_port=None, tls=True,
                         extra_config={"cluster": {"ping_interval_s": 0.2}})
    local.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not _all_alive(local):
            time.sleep(0.2)
        yield local
    finally:
        local.stop()


def _client(local: LocalCluster, endpoints: list[str] | None = None, **kwargs) -> Client:
    return Client(endpoints or local.endpoints, token=local.admin_token, tls=local.client_tls,
                  **kwargs)


def _all_alive(local: LocalCluster) -> bool:
    for node in local.nodes:
        with _client(local, [node.address], routing=RoundRobinPolicy([node.address])) as c:
            if not all(m.alive for m in c.admin.topology().members):
                return False
    return True


def _one_try(endpoint: str, token: str, tls: TlsFiles | None = None) -> Client:
    return Client([endpoint], token=token, tls=tls, timeout=3,
                  retry=RetryPolicy(max_attempts=1), routing=RoundRobinPolicy([endpoint]))


def test_tls_clients_are_served_and_nodes_replicate_over_mutual_tls(tls_cluster):
    with _client(tls_cluster) as admin:
        token = admin.admin.create_tenant("tls-tenant")
        admin.admin.create_dataset("tls-ds", tenant="tls-tenant", replication_factor=3)
    with Client(tls_cluster.endpoints, token=token, tls=tls_cluster.client_tls) as tenant:
        # every replica acks (asked again if a loaded box makes one miss the deadline)
        assert eventually(lambda: acked_by_all(tenant.dataset("tls-ds"), "user", "a",
                                               "over tls"), timeout=60)
        for node in tls_cluster.nodes:
            with Client([node.address], token=token, tls=tls_cluster.client_tls,
                        routing=RoundRobinPolicy([node.address])) as one:
                assert eventually(lambda: _read_all(one) == b"over tls"), node.address


def _read_all(client: Client) -> bytes | None:
    """The value read at ALL; None while a peer is briefly thought down (a failure
    detector flap under load answers Unavailable: nothing was read, so ask again)."""
    try:
        record = client.dataset("tls-ds").get("user", "a", consistency=Consistency.ALL, timeout=30)
    except Unavailable:
        return None
    return record.value if record is not None else b""


def _refused(local: LocalCluster, tls: TlsFiles | None, tenant: str) -> None:
    """A call with ``tls`` fails at the connection and what it asked for never happens."""
    with _one_try(local.endpoints[0], local.admin_token, tls) as client:
        with pytest.raises((Unavailable, Timeout)) as caught:
            client.admin.create_tenant(tenant)
    assert "UNAVAILABLE" in str(caught.value) or isinstance(caught.value, Unavailable)
    with _client(local) as admin:
        assert tenant not in {t.name for t in admin.admin.list_tenants()}


def test_plaintext_clients_are_refused(tls_cluster):
    _refused(tls_cluster, None, "plaintext-tenant")


def test_clients_without_a_certificate_are_refused(tls_cluster):
    _refused(tls_cluster, TlsFiles(tls_cluster.client_tls.ca), "certless-tenant")


def _peer_ping(address: str, token: str, credentials: grpc.ChannelCredentials | None
               ) -> grpc.StatusCode:
    channel = (grpc.secure_channel(address, credentials) if credentials is not None
               else grpc.insecure_channel(address))
    with channel:
        ping = channel.unary_unary("/manhattan.v1.Peer/Ping",
                                   request_serializer=peer_pb2.PingRequest.SerializeToString,
                                   response_deserializer=peer_pb2.PingResponse.FromString)
        try:
            ping(peer_pb2.PingRequest(from_node=99), timeout=3,
                 metadata=(("authorization", f"Bearer {token}"),))
        except grpc.RpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


def test_peers_without_a_valid_certificate_are_refused_even_with_the_admin_token(
        tls_cluster, tmp_path):
    address, token = tls_cluster.endpoints[1], tls_cluster.admin_token
    certs = tls_cluster.certs_dir
    node_cert = grpc.ssl_channel_credentials(
        (certs / "ca.pem").read_bytes(), (certs / "node3.key").read_bytes(),
        (certs / "node3.pem").read_bytes())
    assert _peer_ping(address, token, node_cert) == grpc.StatusCode.OK     # a real peer
    assert _peer_ping(address, token, None) == grpc.StatusCode.UNAVAILABLE  # plaintext
    no_cert = grpc.ssl_channel_credentials((certs / "ca.pem").read_bytes())
    assert _peer_ping(address, token, no_cert) == grpc.StatusCode.UNAVAILABLE
    rogue = init_dev_certs(tmp_path / "rogue", nodes=1)                  # another CA
    rogue_cert = grpc.ssl_channel_credentials(
        (certs / "ca.pem").read_bytes(), rogue["node1"].key.read_bytes(),
        rogue["node1"].cert.read_bytes())
    assert _peer_ping(address, token, rogue_cert) == grpc.StatusCode.UNAVAILABLE


def test_the_cluster_file_records_tls_so_the_cli_needs_no_flags(tls_cluster, monkeypatch):
    for var in ("MANHATTAN_ENDPOINTS", "MANHATTAN_TOKEN", "MANHATTAN_CA_FILE"):
        monkeypatch.delenv(var, raising=False)
    path = tls_cluster.data_dir / "cluster.toml"
    assert read_cluster_file(path)["tls"]["ca"].endswith("ca.pem")
    with _client(tls_cluster) as admin:  # something to list, whatever ran before
        admin.admin.create_tenant("tls-cli-tenant")
    result = CliRunner().invoke(cli, ["--cluster-file", str(path), "tenant", "list", "-o",
                                      "json"])
    assert result.exit_code == 0, result.output
    assert "tls-cli-tenant" in {row["name"] for row in json.loads(result.output)}


def test_certs_init_makes_a_ca_and_certificates_it_signed(tmp_path):
    result = CliRunner().invoke(cli, ["certs", "init", "--dir", str(tmp_path), "--nodes", "2",
                                      "--host", "10.0.0.7", "-o", "json"])
    assert result.exit_code == 0, result.output
    names = {row["name"] for row in json.loads(result.output)}
    assert names == {"ca", "node1", "node2", "client"}
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.pem").read_bytes())
    node = x509.load_pem_x509_certificate((tmp_path / "node2.pem").read_bytes())
    node.verify_directly_issued_by(ca)
    san = node.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "10.0.0.7" in {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    assert oct((tmp_path / "node2.key").stat().st_mode & 0o777) == "0o600"


def test_tls_enabled_without_its_files_is_a_config_error_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match="tls.ca"):
        load_config(overrides={"tls": {"enabled": True}})
    with pytest.raises(ConfigError, match="tls.cert: file"):
        (tmp_path / "ca.pem").write_text("x")
        load_config(overrides={"tls": {"enabled": True, "ca": str(tmp_path / "ca.pem"),
                                       "cert": str(tmp_path / "missing.pem"),
                                       "key": str(tmp_path / "ca.pem")}})
