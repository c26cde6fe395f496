"""The setup phase trusts the system's CAs and the operator's, reads the operator's package index, and nothing else.

Behind a TLS-intercepting proxy every download of a setup command is signed by the proxy's CA.
These tests make such a CA (and a server certificate it signs) with openssl, give it to the real
bubblewrap backend as the operator would (`ISSUESMITH_SANDBOX_CA_BUNDLE`), and check inside a
setup-phase sandbox what a TLS client there trusts: the egress filter refuses every private
address, 127.0.0.1 included, so no local TLS server can be reached from there; the certificate
is verified offline instead, with the files and variables the sandbox gives, and without them.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.config.repo import RepoConfigInvalid, parse
from bot.config.settings import Settings
from bot.core.redact import Redactor
from bot.flow.services import setup_trust
from bot.sandboxes import BubblewrapBackend
from bot.sandboxes.base import Limits
from bot.sandboxes.trust import CA_PATH, CA_VARIABLES, SetupTrust

LIMITS = Limits(timeout=60, kill_grace=0.3)
INDEX = "https://reader:s3cret-index-token@pypi.corp.example/simple"
PROBE = """
import os, ssl, sys
ca = os.environ.get("SSL_CERT_FILE", "")
print("VARS", all(os.environ.get(name) == ca for name in sys.argv[1:]) and bool(ca))
print("CA", ca, os.path.isfile(ca), os.access(ca, os.R_OK), os.access(ca, os.W_OK))
try:
    open(ca, "ab").close()
    print("WRITE ok")
except OSError as exc:
    print("WRITE refused", type(exc).__name__)
subjects = [dict(x[0] for x in c["subject"]).get("commonName", "") for c in ssl.create_default_context().get_ca_certs()]
print("TRUSTS-OPERATOR", "issuesmith test proxy CA" in subjects, "SYSTEM-CAS", len(subjects) > 10)
"""


def backend(trust: SetupTrust) -> BubblewrapBackend:
    found = BubblewrapBackend(trust=trust)
    probe = found.probe()
    if not probe.available or "SETUP PHASE REFUSED" in probe.reason:
        pytest.skip(f"no bubblewrap setup phase here: {probe.reason}")
    return found


@pytest.fixture
def proxy_ca(tmp_path: Path) -> tuple[Path, Path]:
    """An intercepting proxy's CA (its PEM, outside the tree) and a server certificate it signs (in the tree)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the CA")
    keys, tree = tmp_path / "operator", tmp_path / "tree"
    keys.mkdir()
    tree.mkdir()

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=keys, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=issuesmith test proxy CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "pypi.key", "-out", "pypi.csr",
            "-subj", "/CN=pypi.org")
    openssl("x509", "-req", "-in", "pypi.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", str(tree / "pypi.pem"), "-days", "2")
    return keys / "ca.pem", tree


def run_probe(trust: SetupTrust, tree: Path, *, network: bool = True) -> str:
    (tree / "probe.py").write_text(PROBE)
    command = (f"python3 probe.py {' '.join(CA_VARIABLES)}; "
               'openssl verify -CAfile "${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}" pypi.pem 2>&1 | tail -1')
    result = backend(trust).run(command, tree, LIMITS, network=network)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_setup_phase_trusts_the_operators_ca_read_only_beside_the_systems(proxy_ca: tuple[Path, Path]) -> None:
    ca, tree = proxy_ca
    out = run_probe(SetupTrust(ca_bundle=ca), tree)
    assert "VARS True" in out  # pip, requests, curl, git and Node read the same file
    assert f"CA {CA_PATH} True True False" in out and "WRITE refused" in out
    assert "TRUSTS-OPERATOR True SYSTEM-CAS True" in out  # a TLS client's default context, both kinds of CA
    assert "pypi.pem: OK" in out


def test_without_the_operators_ca_the_proxys_certificate_is_not_trusted(proxy_ca: tuple[Path, Path]) -> None:
    """The control: the same check fails without the setting, so the test above cannot pass by accident."""
    _, tree = proxy_ca
    out = run_probe(SetupTrust(), tree)
    assert "TRUSTS-OPERATOR False" in out and "pypi.pem: OK" not in out
    assert "pypi.pem: verification failed" in out
    assert "VARS True" in out and "SYSTEM-CAS True" in out  # pip and the rest still get the system's CAs


def test_the_test_phase_gets_neither_the_bundle_nor_the_index(proxy_ca: tuple[Path, Path]) -> None:
    ca, tree = proxy_ca
    result = backend(SetupTrust(ca_bundle=ca, pip_index_url=INDEX)).run(
        f"test -e {CA_PATH} && echo BUNDLE; env | grep -E '^(PIP|UV|SSL_CERT|REQUESTS)' || echo NONE", tree, LIMITS)
    assert result.output.strip() == "NONE", result.output


def test_the_index_credentials_reach_the_setup_command_but_nothing_issuesmith_writes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A setup command prints the operator's index URL (its token inside): the result is redacted, as is doctor's."""
    settings = Settings(webhook_secret="a-webhook-secret-0123456789", _env_file=None,  # type: ignore[call-arg]
                        sandbox_pip_index_url=SecretStr(INDEX))
    redactor = Redactor(settings.secrets())
    result = backend(setup_trust(settings)).run('echo "index=$PIP_INDEX_URL uv=$UV_DEFAULT_INDEX"', tmp_path,
                                                LIMITS, network=True, redactor=redactor)
    assert result.exit_code == 0 and "s3cret-index-token" not in result.output
    assert result.output.count("index=") == 1 and "uv=" in result.output
    assert "s3cret-index-token" not in repr(settings)


def test_a_repository_cannot_choose_the_index_or_the_bundle() -> None:
    """They are deployment settings only: `.github/issuesmith.yml` has no such keys."""
    for key in ("sandbox_pip_index_url: https://evil.example/simple", "sandbox_ca_bundle: /etc/shadow",
                "pip_index_url: https://evil.example/simple"):
        with pytest.raises(RepoConfigInvalid, match="unknown key"):
            parse(key)


def test_a_bundle_that_is_no_certificate_is_refused_at_start_up(tmp_path: Path) -> None:
    (tmp_path / "not-a-ca.pem").write_text("root:x:0:0\n")
    for path, reason in ((tmp_path / "not-a-ca.pem", "holds no PEM certificate"),
                         (tmp_path / "none", "cannot be read")):
        with pytest.raises(ValueError, match=reason):
            Settings(webhook_secret="a-webhook-secret-0123456789", _env_file=None,  # type: ignore[call-arg]
                     sandbox_ca_bundle=path)
