"""``shopmind users ...``: the dashboard's accounts (roles viewer, marketer, owner) and their
sessions. The first owner is made here; owners make the others on the dashboard's Users page.

Each command's work is a plain function of a ``Store`` (``create_account``, ``disable_account``,
...), so it can run wherever the store is open; the commands only read options and print."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from shopmind.cli._common import EXIT_USAGE, WorkspaceOpt, app, console, err_console, fail, open_workspace
from shopmind.cli._format import local_time
from shopmind.core import counted

if TYPE_CHECKING:  # the rest is imported where it is used: ``shopmind --help`` stays quick
    from shopmind.store import AccountError, Store, User

#: ``shopmind.store.ROLES``, for the help (a test keeps them equal)
ROLE_NAMES = ("viewer", "marketer", "owner")

users_app = typer.Typer(
    help="Dashboard accounts: owner (everything), marketer (also saves segments, exports CSV), viewer (reads).",
    no_args_is_help=True,
)
sessions_app = typer.Typer(help="Dashboard sessions of an account.", no_args_is_help=True)
users_app.add_typer(sessions_app, name="sessions")
app.add_typer(users_app, name="users")


# -- the work, on a store ---------------------------------------------------------------------
def _account(store: Store, login: str) -> User:
    from shopmind.store import AccountError, find_user

    found = find_user(store, login)
    if found is None:
        raise AccountError("no_user", "login", f"no account {login!r}; see 'shopmind users list'")
    return found


def create_account(
    store: Store, login: str, role: str, password: str, display_name: str | None = None
) -> User:
    from shopmind.store import create_user

    return create_user(store, login, role, password=password, display_name=display_name)


def disable_account(store: Store, login: str) -> User:
    """Disable the account; its sessions end."""
    from shopmind.store import set_disabled

    return set_disabled(store, _account(store, login).user_id, True)


def enable_account(store: Store, login: str) -> User:
    from shopmind.store import set_disabled

    return set_disabled(store, _account(store, login).user_id, False)


def change_role(store: Store, login: str, role: str) -> User:
    from shopmind.store import set_role

    return set_role(store, _account(store, login).user_id, role)


def change_password(store: Store, login: str, password: str) -> User:
    """A new password; every session of the account ends."""
    from shopmind.store import set_password

    return set_password(store, _account(store, login).user_id, password=password)


def revoke_account_sessions(store: Store, login: str) -> int:
    """End every session of the account; how many were open."""
    from shopmind.store import revoke_sessions

    return revoke_sessions(store, _account(store, login).user_id)


# -- the commands -----------------------------------------------------------------------------
LoginArg = Annotated[str, typer.Argument(help="The account's login name.")]
PasswordStdinOpt = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of standard input.")
]


def _password(from_stdin: bool) -> str:
    from shopmind.store import AccountError, check_password

    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        check_password(password)
    except AccountError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    return password


def _refused(exc: AccountError) -> typer.Exit:
    hints = {
        "last_owner": "make another owner first: shopmind users create --role owner --login NAME",
        "login_taken": "pick another --login, or see 'shopmind users list'",
    }
    return fail(str(exc), EXIT_USAGE, hints.get(exc.code))


@users_app.command("create")
def users_create(
    login: Annotated[str, typer.Option("--login", help="Login name (letters, digits, . _ @ + -).")],
    role: Annotated[str, typer.Option("--role", help=f"One of {', '.join(ROLE_NAMES)}.")] = "viewer",
    name: Annotated[str | None, typer.Option("--name", help="Display name (default: the login).")] = None,
    password_stdin: PasswordStdinOpt = False,
    generate: Annotated[
        bool, typer.Option("--generate-password", help="Make a random password and print it once.")
    ] = False,
    exists_ok: Annotated[
        bool, typer.Option("--exists-ok", help="An account with this login already: say so and exit 0.")
    ] = False,
    workspace: WorkspaceOpt = Path(".shopmind"),
) -> None:
    """Create a dashboard account; the password is asked twice (hidden) unless given otherwise."""
    from shopmind.store import ROLES, AccountError, find_user

    if role not in ROLES:
        raise fail(f"--role must be one of {', '.join(ROLES)}, not {role!r}", EXIT_USAGE)
    with open_workspace(workspace) as (_, store):
        if exists_ok and (found := find_user(store, login)) is not None:
            err_console.print(
                f"the account {found.login} ({found.role}) exists already; kept as it is "
                f"(a new password: shopmind users password {found.login})"
            )
            return
        import secrets  # here, not at the top: every command's start-up would pay for it

        password = secrets.token_urlsafe(12) if generate else _password(password_stdin)
        try:
            user = create_account(store, login, role, password, name)
        except AccountError as exc:
            raise _refused(exc) from None
    err_console.print(f"[green]created {user.role} {user.login}[/]")
    if generate:
        err_console.print("its password (shown once; change it with 'shopmind users password'):")
        console.print(password, soft_wrap=True)


@users_app.command("list")
def users_list(workspace: WorkspaceOpt = Path(".shopmind")) -> None:
    """The accounts: login, name, role, state and open sessions (never passwords)."""
    from shopmind.store import list_users

    with open_workspace(workspace) as (_, store):
        users = list_users(store)
    if not users:
        err_console.print("no accounts yet: shopmind users create --role owner --login NAME")
        return
    table = Table("login", "name", "role", "state", "open sessions", "created")
    for u in users:
        table.add_row(
            u.login,
            u.display_name,
            u.role,
            "disabled" if u.disabled else "active",
            str(u.active_sessions),
            local_time(u.created_at),
        )
    console.print(table)


@users_app.command("disable")
def users_disable(login: LoginArg, workspace: WorkspaceOpt = Path(".shopmind")) -> None:
    """Disable an account: it cannot sign in, and its open sessions end."""
    from shopmind.store import AccountError

    with open_workspace(workspace) as (_, store):
        try:
            user = disable_account(store, login)
        except AccountError as exc:
            raise _refused(exc) from None
    err_console.print(f"disabled {user.login}; its sessions have ended")


@users_app.command("enable")
def users_enable(login: LoginArg, workspace: WorkspaceOpt = Path(".shopmind")) -> None:
    """Let a disabled account sign in again."""
    from shopmind.store import AccountError

    with open_workspace(workspace) as (_, store):
        try:
            user = enable_account(store, login)
        except AccountError as exc:
            raise _refused(exc) from None
    err_console.print(f"enabled {user.login}")


@users_app.command("role")
def users_role(
    login: LoginArg,
    role: Annotated[str, typer.Option("--role", help=f"One of {', '.join(ROLE_NAMES)}.")],
    workspace: WorkspaceOpt = Path(".shopmind"),
) -> None:
    """Change an account's role (the last active owner stays an owner)."""
    from shopmind.store import AccountError

    with open_workspace(workspace) as (_, store):
        try:
            user = change_role(store, login, role)
        except AccountError as exc:
            raise _refused(exc) from None
    err_console.print(f"{user.login} is now {user.role}")


@users_app.command("password")
def users_password(
    login: LoginArg, password_stdin: PasswordStdinOpt = False, workspace: WorkspaceOpt = Path(".shopmind")
) -> None:
    """Set a new password (asked twice, hidden); the account's open sessions end."""
    from shopmind.store import AccountError

    password = _password(password_stdin)
    with open_workspace(workspace) as (_, store):
        try:
            user = change_password(store, login, password)
        except AccountError as exc:
            raise _refused(exc) from None
    err_console.print(f"new password set for {user.login}; its sessions have ended")


@sessions_app.command("revoke")
def sessions_revoke(login: LoginArg, workspace: WorkspaceOpt = Path(".shopmind")) -> None:
    """End every open dashboard session of an account at once."""
    from shopmind.store import AccountError

    with open_workspace(workspace) as (_, store):
        try:
            ended = revoke_account_sessions(store, login)
        except AccountError as exc:
            raise _refused(exc) from None
    err_console.print(f"ended {counted(ended, 'session')} of {login}")
