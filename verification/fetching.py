"""What verification may fetch over the network, and from where.

An uploaded document names the URLs (caIssuers, OCSP, CRL distribution points) in the
certificates it carries: fetched blindly, they make the server call wherever the uploader
chose, the loopback interface and the private network included (blind SSRF). So:

- this CA's own certificates are answered in process, from its current CRL (never over
  HTTP to Kyso itself);
- other CAs' revocation data is fetched only while validating a path that already reaches a
  trust root (pyHanko checks revocation on validated paths); issuer certificates (caIssuers)
  are never fetched, since a path that needs one does not reach a trust root yet: the chain
  must come with the document, or end at a certificate in ``verify.trust_roots``;
- every URL must be http(s) on a host listed in ``verify.fetch_hosts`` (a name, ``.suffix``
  for a domain and its subdomains, or an IP network), and every address its name resolves to
  must be public, or inside a listed network: loopback, private, link-local and other
  special ranges are refused unless listed. No redirects are followed. The default list is
  empty: nothing is fetched.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from asyncio import to_thread
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from asn1crypto import crl as asn1_crl
from asn1crypto import x509

log = logging.getLogger("kyso.verify")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class HostPolicy:
    """``verify.fetch_hosts``: which URLs verification may fetch."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.names: set[str] = set()
        self.suffixes: list[str] = []
        self.networks: list[Network] = []
        for entry in entries:
            text = entry.strip().lower().rstrip(".")
            if not text:
                continue
            try:
                self.networks.append(ipaddress.ip_network(text, strict=False))
                continue
            except ValueError:
                pass
            if text.startswith("."):
                self.suffixes.append(text)
            else:
                self.names.add(text)

    def _listed_address(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address in net for net in self.networks)

    def refusal(self, url: str) -> str | None:
        """Why ``url`` may not be fetched (None: it may)."""
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").rstrip(".")
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return "not a URL"
        if parts.scheme not in ("http", "https") or not host:
            return "not an http(s) URL"
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            return None if self._listed_address(literal) else "an address not in verify.fetch_hosts"
        if host not in self.names and not any(host.endswith(s) or host == s[1:] for s in self.suffixes):
            return "a host not in verify.fetch_hosts"
        try:
            infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            return "a host that does not resolve"
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if not address.is_global and not self._listed_address(address):
                return f"a host that resolves to a non-public address ({address})"
        return None


def guarded_fetchers(policy: HostPolicy, own_names: set[str], crls: list[asn1_crl.CertificateList],
                     timeout: float = 10) -> Any:
    """pyHanko fetchers for one validation: this CA's certificates answered from its CRL,
    everything else fetched only from where ``policy`` allows, without redirects."""
    import requests
    from pyhanko_certvalidator.errors import OCSPFetchError
    from pyhanko_certvalidator.fetchers.api import CertificateFetcher, CRLFetcher, Fetchers, FetchLimits, OCSPFetcher
    from pyhanko_certvalidator.fetchers.common_utils import FetchBudget
    from pyhanko_certvalidator.fetchers.requests_fetchers.crl_client import RequestsCRLFetcher
    from pyhanko_certvalidator.fetchers.requests_fetchers.ocsp_client import RequestsOCSPFetcher

    ours = {crl["tbs_cert_list"]["issuer"].hashable for crl in crls} | own_names

    def own(cert: Any) -> bool:
        return isinstance(cert, x509.Certificate) and cert.issuer.hashable in ours

    def checked(url: str) -> None:
        why = policy.refusal(url)
        if why is not None:
            log.warning("verify.fetch_refused: %s is %s", url[:200], why)
            raise requests.RequestException(f"not fetched: {why}")

    class Guard:
        per_request_timeout: float
        user_agent: str

        def _get(self, url: str, *, acceptable_content_types: Any) -> Any:
            def task() -> Any:
                checked(url)
                response = requests.get(url=url, timeout=self.per_request_timeout, allow_redirects=False,
                                        headers={"Accept": ",".join(acceptable_content_types),
                                                 "User-Agent": self.user_agent})
                if response.status_code != 200:
                    raise requests.RequestException(f"status code {response.status_code}")
                return response

            return to_thread(task)

        def _post(self, url: str, data: bytes, *, content_type: str, acceptable_content_types: Any) -> Any:
            def task() -> Any:
                checked(url)
                response = requests.post(url=url, timeout=self.per_request_timeout, data=data, allow_redirects=False,
                                         headers={"Accept": ",".join(acceptable_content_types),
                                                  "User-Agent": self.user_agent, "Content-Type": content_type})
                if response.status_code != 200:
                    raise requests.RequestException(f"status code {response.status_code}")
                return response

            return to_thread(task)

    class GuardedOcsp(Guard, RequestsOCSPFetcher):
        pass

    class GuardedCrl(Guard, RequestsCRLFetcher):
        pass

    class NoIssuerFetching(CertificateFetcher):
        def fetch_cert_issuers(self, cert: Any) -> Any:
            return _nothing()

        def fetch_crl_issuers(self, certificate_list: Any) -> Any:
            return _nothing()

        def fetched_certs(self) -> Any:
            return []

    budget = FetchBudget(FetchLimits(max_requests=20, max_cert_requests=0, max_aia_urls_per_object=0))
    ocsps = GuardedOcsp(per_request_timeout=timeout, budget=budget)
    crl_fetcher = GuardedCrl(per_request_timeout=timeout, budget=budget)

    class OwnOcsp(OCSPFetcher):
        async def fetch(self, cert: Any, authority: Any) -> Any:
            if own(cert):
                raise OCSPFetchError("a certificate of this CA: its status comes from the CA's own CRL")
            return await ocsps.fetch(cert, authority)

        def fetched_responses(self) -> Any:
            return ocsps.fetched_responses()

        def fetched_responses_for_cert(self, cert: Any) -> Any:
            return [] if own(cert) else ocsps.fetched_responses_for_cert(cert)

    class OwnCrl(CRLFetcher):
        async def fetch(self, cert: Any, *, use_deltas: Any = None) -> Any:
            if own(cert):
                return []  # the CA's CRL is in the validation context already
            return await crl_fetcher.fetch(cert, use_deltas=use_deltas)

        def fetched_crls(self) -> Any:
            return crl_fetcher.fetched_crls()

        def fetched_crls_for_cert(self, cert: Any) -> Any:
            return [] if own(cert) else crl_fetcher.fetched_crls_for_cert(cert)

    return Fetchers(ocsp_fetcher=OwnOcsp(), crl_fetcher=OwnCrl(), cert_fetcher=NoIssuerFetching())


async def _nothing() -> Any:
    """An empty asynchronous generator."""
    return
    yield  # noqa: RET503 - makes this a generator
