"""``python -m lms_connectors.xapi``: run the xAPI endpoint, give a connector push credentials.

python -m lms_connectors.xapi serve [--host 127.0.0.1] [--port 8090]
    LMS_XAPI_DSN: the warehouse as login lms_xapi (a libpq connection string or URL)
    LMS_PSEUDONYMISATION_KEY: the key learners are hashed with (as the connectors' Connection holds it)
python -m lms_connectors.xapi credentials --connector ID [--revoke USERNAME]
    LMS_WAREHOUSE_DSN: the warehouse as login lms_connector; prints the username and the secret once
"""

from __future__ import annotations

import argparse
import os
import sys

DSN_ENV = "LMS_XAPI_DSN"
KEY_ENV = "LMS_PSEUDONYMISATION_KEY"
ADMIN_DSN_ENV = "LMS_WAREHOUSE_DSN"
DEFAULT_PORT = 8090


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"{name} is not set (see python -m lms_connectors.xapi --help)")
    return value


def settings_from_env() -> object:
    from lms_connectors import providers
    from lms_connectors.privacy.pseudonym import check_key
    from lms_connectors.providers.registry import load_registry
    from lms_connectors.xapi.app import Settings

    return Settings(
        dsn=_env(DSN_ENV),
        master_key=check_key(os.environ.get(KEY_ENV), KEY_ENV),
        providers={spec.id: providers.get(spec.provider) for spec in load_registry()},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lms_connectors.xapi", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the endpoint")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    creds = sub.add_parser("credentials", help="new push credentials for a connector (or --revoke some)")
    creds.add_argument("--connector", required=True)
    creds.add_argument("--revoke", metavar="USERNAME")
    args = parser.parse_args(argv)
    if args.command == "serve":
        import uvicorn

        from lms_connectors.xapi.app import create_app

        uvicorn.run(create_app(settings_from_env()), host=args.host, port=args.port, log_level="info")
        return 0
    import psycopg

    from lms_connectors.providers.registry import load_registry
    from lms_connectors.warehouse import statements

    if args.connector not in {spec.id for spec in load_registry()}:
        raise SystemExit(f"no connector {args.connector!r} in the registry")
    with psycopg.connect(_env(ADMIN_DSN_ENV)) as conn:
        if args.revoke:
            if not statements.revoke_credentials(conn, args.revoke):
                raise SystemExit(f"no active credentials {args.revoke!r}")
            print(f"revoked {args.revoke}")
            return 0
        username, secret = statements.create_credentials(conn, args.connector)
    # The one time the secret is shown: the provider's LRS settings take it as the Basic password.
    print(f"connector:  {args.connector}\nusername:   {username}\nsecret:     {secret}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
