"""``peerpipe admin token``: mint platform tokens with the platform key."""

from __future__ import annotations

import argparse
import json

from peerpipe.config import Config
from peerpipe.tokens import Role, TokenError, mint_token


def register_admin(admin: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    token = admin.add_parser("token", help="mint a bearer token for a user and role")
    token.add_argument("--user", required=True, help="user id the token speaks for")
    token.add_argument(
        "--role", default="user", choices=[str(role) for role in Role], help="role (user)"
    )
    token.add_argument("--ttl", type=int, default=86400, help="lifetime in seconds (86400)")
    token.add_argument("--json", action="store_true", help="print a JSON object")
    token.set_defaults(handler=mint_command)


def mint_command(args: argparse.Namespace, config: Config) -> int:
    if args.ttl <= 0:
        print("peerpipe admin token: --ttl must be positive")
        return 2
    try:
        token = mint_token(config.platform_key, args.user, Role(args.role), args.ttl)
    except TokenError as exc:
        print(f"peerpipe admin token: {exc}")
        return 2
    if args.json:
        print(json.dumps({"user": args.user, "role": args.role, "token": token}))
    else:
        print(token)
    return 0
