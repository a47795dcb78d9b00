"""`prodloop users` and `prodloop tokens`: who may log in to the dashboard, and their API
tokens. Passwords come from a prompt or an environment variable, never the command line."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import click
from sqlalchemy.engine import Engine

from prodloop.cli.options import config_option
from prodloop.cli.tables import render_table
from prodloop.clock import SystemClock
from prodloop.config import load_config
from prodloop.errors import ValidationError
from prodloop.store import connect
from prodloop.web.dashboard.tokens import create_token, list_tokens, revoke_token
from prodloop.web.dashboard.users import (
    ROLES,
    add_user,
    check_password,
    list_users,
    remove_user,
    set_password,
    set_role,
)

role_choice = click.Choice(ROLES)
password_env_option = click.option(
    "--password-env",
    metavar="VAR",
    default=None,
    help="read the password from this environment variable instead of a prompt",
)


def _engine(config_file: str | None) -> Engine:
    return connect(load_config(config_file).store.url)


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def _password(password_env: str | None) -> str:
    if password_env is not None:
        value = os.environ.get(password_env)
        if not value:
            raise ValidationError(
                f"the environment variable {password_env} is not set", field="--password-env"
            )
        return check_password(value, field="--password-env")
    value = click.prompt("password", hide_input=True, confirmation_prompt=True)
    return check_password(str(value))


@click.group()
def users() -> None:
    """Dashboard users: add, list, remove, change a role or a password."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=role_choice, required=True, help="viewer, operator or admin")
@password_env_option
@config_option
def users_add(name: str, role: str, password_env: str | None, config_file: str | None) -> None:
    """Add a user who can log in to the dashboard."""
    engine = _engine(config_file)
    user = add_user(engine, name, _password(password_env), role, now=SystemClock().now())
    click.echo(f"added user {user.name} ({user.role})")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@config_option
def users_list(as_json: bool, config_file: str | None) -> None:
    """Every user and their role."""
    found = list_users(_engine(config_file))
    if as_json:
        click.echo(
            json.dumps(
                [{"name": u.name, "role": u.role, "created_at": u.created_at} for u in found]
            )
        )
        return
    if not found:
        click.echo("no users yet: add one with `prodloop users add NAME --role admin`")
        return
    rows = [[u.name, u.role, _when(u.created_at)] for u in found]
    click.echo(render_table(["name", "role", "created"], rows))


@users.command("remove")
@click.argument("name")
@config_option
def users_remove(name: str, config_file: str | None) -> None:
    """Remove a user, ending their sessions and revoking their API tokens."""
    user = remove_user(_engine(config_file), name)
    click.echo(f"removed user {user.name}")


@users.command("set-role")
@click.argument("name")
@click.argument("role", type=role_choice)
@config_option
def users_set_role(name: str, role: str, config_file: str | None) -> None:
    """Change a user's role (viewer, operator or admin)."""
    user = set_role(_engine(config_file), name, role, now=SystemClock().now())
    click.echo(f"{user.name} is now {user.role}")


@users.command("set-password")
@click.argument("name")
@password_env_option
@config_option
def users_set_password(name: str, password_env: str | None, config_file: str | None) -> None:
    """Set a new password for a user and end their sessions."""
    engine = _engine(config_file)
    user = set_password(engine, name, _password(password_env), now=SystemClock().now())
    click.echo(f"password of {user.name} changed; their sessions are over")


@click.group()
def tokens() -> None:
    """Users' API tokens for /api/v1, with the user's role."""


@tokens.command("create")
@click.option("--user", "user_name", required=True, help="the user the token acts as")
@click.option("--name", "label", default="", help="a label to tell the token apart")
@config_option
def tokens_create(user_name: str, label: str, config_file: str | None) -> None:
    """Create a token; it is printed once and cannot be shown again."""
    token, info = create_token(
        _engine(config_file), user_name, label=label, now=SystemClock().now()
    )
    click.echo(token)
    click.echo(f"token {info.id} for {info.user}: copy it now, it is not shown again", err=True)


@tokens.command("list")
@click.option("--user", "user_name", default=None, help="only this user's tokens")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@config_option
def tokens_list(user_name: str | None, as_json: bool, config_file: str | None) -> None:
    """Tokens with their prefix, owner and last use (never the token itself)."""
    found = list_tokens(_engine(config_file), user_name=user_name)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "id": t.id,
                        "user": t.user,
                        "name": t.name,
                        "prefix": t.prefix,
                        "created_at": t.created_at,
                        "last_used_at": t.last_used_at,
                        "revoked_at": t.revoked_at,
                    }
                    for t in found
                ]
            )
        )
        return
    rows = [
        [
            str(t.id),
            t.user,
            t.name or "-",
            t.prefix + "…",
            _when(t.created_at),
            _when(t.last_used_at),
            "active" if t.is_active else f"revoked {_when(t.revoked_at)}",
        ]
        for t in found
    ]
    headers = ["id", "user", "name", "prefix", "created", "last used", "state"]
    click.echo(render_table(headers, rows))


@tokens.command("revoke")
@click.argument("token_id", type=int)
@config_option
def tokens_revoke(token_id: int, config_file: str | None) -> None:
    """Revoke a token by its id (see `prodloop tokens list`)."""
    info = revoke_token(_engine(config_file), token_id, now=SystemClock().now())
    click.echo(f"revoked token {info.id} of {info.user}")
