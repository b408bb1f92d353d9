"""``python -m opencass.portal.code SECRET``: the current TOTP code of a base32 secret, as an
authenticator app would show it (for the demo's logins and for operators' checks)."""

from __future__ import annotations

import sys

import pyotp


def main(argv: list[str]) -> int:
    """Print the code of each secret given."""
    if not argv:
        print("usage: python -m opencass.portal.code SECRET", file=sys.stderr)
        return 2
    for secret in argv:
        print(pyotp.TOTP(secret).now())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
