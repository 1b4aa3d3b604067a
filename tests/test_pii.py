"""PII redaction: what is replaced, what is left alone, and the counts reported."""

from __future__ import annotations

import pytest

from pipeline import registry
from pipeline.pii import EMAIL, IPV4, IPV6, PHONE, PiiRedactor

REDACT = PiiRedactor()


@pytest.mark.parametrize("text, expected, kind", [
    ("Write to john.doe+news@example.co.uk today.", f"Write to {EMAIL} today.", "email"),
    ("Contact: ANNA_B@mail-server.org", f"Contact: {EMAIL}", "email"),
    ("The server at 8.8.8.8.", f"The server at {IPV4}.", "ipv4"),
    ("proxy 203.0.114.7:8080 is up", f"proxy {IPV4}:8080 is up", "ipv4"),
    ("route 151.101.1.69/24", f"route {IPV4}/24", "ipv4"),
    ("host 2606:4700:4700::1111 answered", f"host {IPV6} answered", "ipv6"),
    ("full 2607:f8b0:4005:0805:0000:0000:0000:200e.", f"full {IPV6}.", "ipv6"),
    ("mapped ::ffff:8.8.4.4 here", f"mapped {IPV6} here", "ipv6"),
    ("Call +1 (555) 123-4567 now", f"Call {PHONE} now", "phone"),
    ("Call 555-123-4567.", f"Call {PHONE}.", "phone"),
    ("UK office +44 20 7946 0958", f"UK office {PHONE}", "phone"),
    ("or +44 (0)20 7946 0958", f"or {PHONE}", "phone"),
    ("(555) 123 4567", PHONE, "phone"),
    ("555.123.4567", PHONE, "phone"),
    ("toll free 1-800-555-1234", f"toll free {PHONE}", "phone"),
    ("+33 6 12 34 56 78", PHONE, "phone"),
    ("portable 06 12 34 56 78", f"portable {PHONE}", "phone"),
    ("London 020 7946 0958", f"London {PHONE}", "phone"),
    ("Berlin +49 30 12345678", f"Berlin {PHONE}", "phone"),
    ("E.164 +15551234567", f"E.164 {PHONE}", "phone"),
    # the context checks leave real addresses and numbers alone
    ("12.6.2.1 is the gateway", f"{IPV4} is the gateway", "ipv4"),
    ("connect to 12.6.2.1. Then log in", f"connect to {IPV4}. Then log in", "ipv4"),
    ("Tel. +49 30 12345678 (office)", f"Tel. {PHONE} (office)", "phone"),
])
def test_redacted(text, expected, kind):
    redacted, counts = REDACT.redact(text)
    assert redacted == expected
    assert counts == {k: int(k == kind) for k in ("email", "ipv4", "ipv6", "phone")}


@pytest.mark.parametrize("text", [
    "Python version 3.11.7 and release 1.2.3.4.5",
    "Build v1.2.3.4 and 256.1.1.1 and 1.02.3.4",
    "On 2024-01-15 at 12:30:45 the ratio was 1:2:3.",
    "ISBN 978-3-16-148410-0 and ISBN 0-306-40615-2",
    "std::vector<int> v; a::b::c(); Foo::Bar",
    "The years 2024 and 1999, pi is 3.14159, total 1,234,567.89",
    "Loopback 127.0.0.1, private 10.0.0.1 and 192.168.1.1, any 0.0.0.0",
    "IPv6 loopback ::1, link-local fe80::1%eth0, docs 2001:db8::1, ula fd00::1",
    "MAC 00:1A:2B:3C:4D:5E and time 10:30",
    "Account 5551234567, short 555-1234, SSN-like 123-45-6789, range 100-200-3000",
    "Score +1 2024 and +100 20000 points",
    "Mail me at user@localhost or @handle",
    "Chrome 120.0.6099.109 and CUDA 12.2",
    # section numbers and version strings in manuals
    "12.6.2.1. Compile and install\nRun make.",
    "   3.1.4.1 Overview of the options",
    "Changed in Python 3.1.4.1 and in version 2.0.0.1",
    "libfoo 1.2.3.4-2 and bar 8.8.8.8~rc1 and baz 1.1.1.1+dfsg",
    "requires foo==8.8.4.4 or bar>=9.9.9.9",
    # SCSI sense data and other hex dumps, integer limits
    "sense: 70 00 05 00 00 00 00 0a 00 00 00 00 24 00 00 00",
    "       00 12 34 56 78 9a bc de f0 11 22 33 44 55 66 77",
    "values range from -2147483648 to +2147483647 inclusive",
])
def test_not_redacted(text):
    redacted, counts = REDACT.redact(text)
    assert redacted == text
    assert sum(counts.values()) == 0


def test_counts_per_kind():
    text = ("a@b.io and c@d.org called +44 20 7946 0958 and 555-123-4567 "
            "from 8.8.8.8 and 1.1.1.1 via 2606:4700::1111")
    redacted, counts = REDACT.redact(text)
    assert counts == {"email": 2, "ipv4": 2, "ipv6": 1, "phone": 2}
    assert redacted == (f"{EMAIL} and {EMAIL} called {PHONE} and {PHONE} "
                        f"from {IPV4} and {IPV4} via {IPV6}")


def test_kinds_can_be_switched_off():
    text = "x@example.com 8.8.8.8 2606:4700::1111 555-123-4567"
    assert PiiRedactor(emails=False).redact(text)[0] == f"x@example.com {IPV4} {IPV6} {PHONE}"
    assert PiiRedactor(ipv4=False).redact(text)[0] == f"{EMAIL} 8.8.8.8 {IPV6} {PHONE}"
    assert PiiRedactor(ipv6=False).redact(text)[0] == f"{EMAIL} {IPV4} 2606:4700::1111 {PHONE}"
    assert PiiRedactor(phones=False).redact(text)[0] == f"{EMAIL} {IPV4} {IPV6} 555-123-4567"


def test_private_addresses_can_be_redacted_too():
    text = "127.0.0.1 and 192.168.1.1 and ::1"
    redacted, counts = PiiRedactor(keep_private_ips=False).redact(text)
    assert redacted == f"{IPV4} and {IPV4} and {IPV6}"
    assert counts["ipv4"] == 2 and counts["ipv6"] == 1


def test_rule_interface_never_drops():
    result = REDACT("Reach me at someone@example.com.")
    assert result.keep and result.text == f"Reach me at {EMAIL}." and result.lines_removed == {}
    assert REDACT("").text == ""


def test_parameters_from_spec():
    params = registry.step_parameters("pii")
    assert params["emails"] is bool and params["keep_private_ips"] is bool
    assert registry.build_step("pii", {"phones": False}).phones is False
