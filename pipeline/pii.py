"""PII redaction: e-mail addresses, IP addresses and phone numbers become placeholder tokens.

The stage never drops a document; it replaces what it finds and reports counts per kind, which
the pipeline turns into Beam counters. The patterns aim at precision: a redaction that hits
a version number or a date damages training text, while a missed exotic phone format costs
little. What is and isn't caught:

- e-mail: ASCII local@domain.tld with a 2-24 letter TLD. Not caught: quoted local parts,
  internationalised domains, obfuscations ("name at example dot com").
- IPv4: four dotted decimal octets 0-255 (no leading zeros), not inside a longer dotted number
  ("1.2.3.4.5") nor glued to a letter or digit ("v1.2.3.4"). Three-part versions ("3.11.7") and
  dates never match. Context checks keep what only looks like an address: a section number
  heading a line ("12.6.2.1. Compile and install"), a dotted number after a version cue
  ("version", "release", "Python", "kernel", ... within the words just before it:
  "Python 3.1.4.1") or followed by a package revision ("1.2.3.4-1", "1.2.3.4~rc1",
  "1.2.3.4+dfsg"). A bare four-part version made only of octets, with no such cue, is
  indistinguishable from an address and is redacted.
- IPv6: full and "::"-compressed forms, optionally with an embedded IPv4 tail or a zone
  ("%eth0"); every candidate is validated with `ipaddress`, so C++ scopes ("std::vector"),
  times ("12:30:45") and MAC addresses never match.
- Addresses that identify no one are kept, as BigScience's and StarCoder's pipelines do: only
  `ipaddress`'s `is_global` addresses outside reserved blocks are redacted, so loopback,
  private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local, reserved (IPv6 outside
  2000::/3 and a few others) and documentation ranges (192.0.2.0/24, 2001:db8::/32) stay.
  `keep_private_ips=False` redacts every valid address.
- phone: (a) international numbers starting "+country code", 8 to 15 digits in groups separated
  by spaces, dots, hyphens or parentheses ("+1 (555) 123-4567", "+44 20 7946 0958"), or
  written as one E.164 run of 10-15 digits ("+15551234567");
  (b) North American numbers with separators: "555-123-4567", "(555) 123 4567", "555.123.4567",
  optionally after "1-"; (c) European national numbers: French "06 12 34 56 78" and trunk-prefix
  forms such as "020 7946 0958" or "030 12345678" (a leading 0, 10-11 digits, space or hyphen
  separators). Not caught: national numbers without separators ("5551234567"), extensions, vanity
  numbers ("1-800-FLOWERS"). Never matched: plain numbers, years, ISO dates ("2024-01-15"),
  ISBNs, digit runs glued to letters, decimals. Context checks: an international number must
  start with an assigned ITU country calling code ("+2147483647", INT_MAX, starts with none:
  21x is Africa's block and 214 is unassigned); a candidate with a two-hex-digit group right
  before or after it is part of a hex dump ("70 00 05 00 00 00 00 0a"), not a number to call.
"""

from __future__ import annotations

import ipaddress
import re

from pipeline.document import Document
from pipeline.document_step import DocumentStep, StepOutcome
from pipeline.rules.base import RuleResult

EMAIL = "<EMAIL>"
IPV4 = "<IPV4>"
IPV6 = "<IPV6>"
PHONE = "<PHONE>"

_EMAIL_RE = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4_RE = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d)")
# A run of hex digits and colons with at least two colons, maybe an IPv4 tail and a zone;
# `ipaddress` decides whether it really is an address.
_IPV6_RE = re.compile(
    r"(?<![\w:.])(?=[0-9A-Fa-f]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]{2,39}"
    r"(?:\d{1,3}(?:\.\d{1,3}){3})?(?:%[\w.-]+)?(?![\w:]|\.\d)"
)
_PHONE_RE = re.compile(
    r"(?<![\w+.,/-])(?:"
    # international: +CC then 2-6 groups, or E.164 without separators; digits checked in code
    r"\+[1-9]\d{0,2}(?:[ .-]?\(\d{1,4}\)\d{0,8}|[ .-]\d{1,8}){2,6}|\+[1-9]\d{9,14}"
    # North American, optionally with the trunk prefix 1
    r"|(?:1[ .-])?(?:\([2-9]\d{2}\) ?|[2-9]\d{2}[ .-])\d{3}[ .-]\d{4}"
    # French: 0X XX XX XX XX
    r"|0[1-9](?:[ .-]\d{2}){4}"
    # trunk-prefix national: 0 + area code, then 1-2 groups; digit count checked in code
    r"|0\d{2,4}[ -]\d{3,8}(?:[ -]\d{3,4})?"
    r")(?![\w-]|[.,/]\d)"
)
_DIGIT = re.compile(r"\d")
# A section number heading its line: only indentation before it, then "." and a title, or a
# space and a capitalised title ("12.6.2.1. Compile", "3.1.4.1 Overview").
_HEADING_AFTER = re.compile(r"[.)][ \t]+\S|[ \t]+[A-ZÀ-Þ]")
_VERSION_CUE = re.compile(
    r"(?i)(?:\b(?:version|versions|ver|release|rel|revision|rev|build|kernel|linux|python|perl"
    r"|ruby|gcc|glibc|libc|firmware|package|update|patch|debian|ubuntu|java|openssl)\b"
    r"|==|>=|<=|~=|(?<![<>=!])=)"
    r"[\s:]*$")
_REVISION_AFTER = re.compile(r"[-~+][0-9A-Za-z]")
_HEX_PAIR_BEFORE = re.compile(r"(?:^|\s)[0-9A-Fa-f]{2}[ \t]$")
_HEX_PAIR_AFTER = re.compile(r"[ \t][0-9A-Fa-f]{2}(?:\s|$)")
# ITU-T E.164 country calling codes in use (1 to 3 digits).
_COUNTRY_CODES = frozenset(
    "1 7 20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 60 61 "
    "62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98 211 212 213 216 218 290 291 297 298 299 "
    "420 421 423 670 800 808 850 852 853 855 856 870 878 880 881 882 883 886 888 992 993 994 "
    "995 996 998".split()
    + [str(c) for r in ((220, 259), (260, 270), (350, 360), (370, 384), (385, 388), (500, 510),
                        (590, 600), (672, 693), (960, 969), (970, 978)) for c in range(*r)]
    + ["389", "979"]
)


def _valid_country_code(candidate: str) -> bool:
    """Whether a "+..." number starts with an assigned calling code: its first digit group
    when separated, else some 1-3 digit prefix of the run."""
    digits = re.match(r"\+(\d+)", candidate).group(1)
    if len(digits) <= 3 and len(digits) < sum(map(str.isdigit, candidate)):
        return digits in _COUNTRY_CODES
    return any(digits[:n] in _COUNTRY_CODES for n in (1, 2, 3))


def _line_before(text: str, start: int) -> str:
    return text[text.rfind("\n", 0, start) + 1:start]


def _looks_like_section_or_version(text: str, start: int, end: int) -> bool:
    before = _line_before(text, start)
    if not before.strip() and _HEADING_AFTER.match(text, end):
        return True
    if _VERSION_CUE.search(before[-24:]):
        return True
    return _REVISION_AFTER.match(text, end) is not None


def _in_hex_dump(text: str, start: int, end: int) -> bool:
    return bool(_HEX_PAIR_BEFORE.search(_line_before(text, start))
                or _HEX_PAIR_AFTER.match(text, end))


def _digits(s: str) -> int:
    return sum(map(str.isdigit, s))


class PiiRedactor(DocumentStep):
    """Replaces e-mails, global IP addresses and phone numbers with placeholders."""

    name = "pii"

    def __init__(self, *, emails: bool = True, ipv4: bool = True, ipv6: bool = True,
                 phones: bool = True, keep_private_ips: bool = True):
        self.emails = bool(emails)
        self.ipv4 = bool(ipv4)
        self.ipv6 = bool(ipv6)
        self.phones = bool(phones)
        self.keep_private_ips = bool(keep_private_ips)

    def _is_personal(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if not self.keep_private_ips:
            return True
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:a.b.c.d is judged as a.b.c.d
        # `is_global` alone lets IPv6's reserved blocks through ("a::b" is in ::/8).
        return address.is_global and not address.is_reserved

    def redact(self, text: str) -> tuple[str, dict[str, int]]:
        """The text with PII replaced, and how many of each kind were replaced."""
        counts = {"email": 0, "ipv4": 0, "ipv6": 0, "phone": 0}

        def email(match: re.Match) -> str:
            counts["email"] += 1
            return EMAIL

        def ipv6(match: re.Match) -> str:
            candidate = match.group()
            try:
                address = ipaddress.IPv6Address(candidate.split("%", 1)[0])
            except ValueError:
                return candidate
            if not self._is_personal(address):
                return candidate
            counts["ipv6"] += 1
            return IPV6

        def ipv4(match: re.Match) -> str:
            if not self._is_personal(ipaddress.IPv4Address(match.group())):
                return match.group()
            if _looks_like_section_or_version(match.string, match.start(), match.end()):
                return match.group()
            counts["ipv4"] += 1
            return IPV4

        def phone(match: re.Match) -> str:
            candidate = match.group()
            digits = _digits(candidate)
            if _in_hex_dump(match.string, match.start(), match.end()):
                valid = False
            elif candidate.startswith("+"):
                valid = 8 <= digits <= 15 and _valid_country_code(candidate)
            elif candidate.startswith("0") and digits not in (10, 11):
                valid = False
            else:
                valid = True
            if not valid:
                return candidate
            counts["phone"] += 1
            return PHONE

        if self.emails and "@" in text:
            text = _EMAIL_RE.sub(email, text)
        if self.ipv6 and ("::" in text or text.count(":") >= 7):
            text = _IPV6_RE.sub(ipv6, text)
        if (self.ipv4 or self.phones) and _DIGIT.search(text):
            if self.ipv4:
                text = _IPV4_RE.sub(ipv4, text)
            if self.phones:
                text = _PHONE_RE.sub(phone, text)
        return text, counts

    def __call__(self, text: str) -> RuleResult:
        return RuleResult(self.redact(text)[0])

    def apply(self, doc: Document) -> StepOutcome:
        """Never drops; counts redactions (`pii.<kind>`) and documents redacted
        (`pii_docs.<kind>`)."""
        text, found = self.redact(doc["text"])
        stats = {}
        for kind, n in found.items():
            if n:
                stats[f"pii.{kind}"] = n
                stats[f"pii_docs.{kind}"] = 1
        return StepOutcome(dict(doc, text=text), None, stats)
