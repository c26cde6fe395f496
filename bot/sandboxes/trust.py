"""What the setup phase is given of the deployment's TLS trust and package index, and never the repository's.

Behind a TLS-intercepting proxy, or with a private package index, a setup command needs the
CA that signs what it downloads and the index to download from. The operator sets them
(`ISSUESMITH_SANDBOX_CA_BUNDLE`, `ISSUESMITH_SANDBOX_PIP_INDEX_URL`, `..._EXTRA_INDEX_URL`);
nothing in a repository can. `SetupTrust.bundle()` is the host's system CA bundle followed by
the operator's extra PEM: it is bound read-only into the setup phase at `CA_PATH`, and every
variable that tools read a CA file from points there (`CA_VARIABLES`: OpenSSL and Python's ssl,
requests, pip, curl, git, Node; uv reads `SSL_CERT_FILE`). They all replace their own roots by the
file they name, which is why it holds the system's CAs too. The host's pip configuration
(/etc/pip.conf) is not used: it may name files the sandbox lacks or credentials not meant for it.

An index URL may carry credentials (`https://user:token@host/simple`): they are the
operator's choice, reach the setup command (which is the repository's code: use a read-only token
scoped to the index), and are redacted from everything issuesmith writes (`Settings.secrets`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CA_PATH = "/etc/issuesmith/ca-bundle.pem"
"""Where the setup phase finds the bundle (read-only)."""
CA_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO",
                "NODE_EXTRA_CA_CERTS")
SYSTEM_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem")
"""The system's CA bundle, where Debian/Ubuntu, Fedora/RHEL and Alpine keep it (the first that exists)."""


@dataclass(frozen=True)
class SetupTrust:
    """The operator's CA bundle and package index for the setup phase (all optional)."""

    ca_bundle: Path | None = None
    pip_index_url: str = ""
    pip_extra_index_url: str = ""
    system_bundles: tuple[str, ...] = SYSTEM_BUNDLES

    def bundle(self) -> bytes:
        """The system's CAs, then the operator's extra bundle; b"" when there are neither."""
        system = next((Path(p) for p in self.system_bundles if Path(p).is_file()), None)
        parts = [system.read_bytes()] if system is not None else []
        if self.ca_bundle is not None:
            parts.append(self.ca_bundle.read_bytes())
        return b"\n".join(part.rstrip(b"\n") + b"\n" for part in parts)

    def env(self, *, bundle: bool) -> dict[str, str]:
        """The setup phase's variables: every CA variable at `CA_PATH` (when there is a `bundle`), and the index."""
        env = dict.fromkeys(CA_VARIABLES, CA_PATH) if bundle else {}
        if self.pip_index_url:
            env |= {"PIP_INDEX_URL": self.pip_index_url, "UV_DEFAULT_INDEX": self.pip_index_url}
        if self.pip_extra_index_url:
            env |= {"PIP_EXTRA_INDEX_URL": self.pip_extra_index_url, "UV_INDEX": self.pip_extra_index_url}
        return env


NO_TRUST = SetupTrust()
"""The system's CAs only, no index of the operator's (the default)."""
