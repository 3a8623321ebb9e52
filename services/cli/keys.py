"""`pulse keys`: the key every secret at rest is sealed under (PULSE_DEVICE_KEY), checked and rotated."""

from __future__ import annotations

import sys

import click

from services.cli.common import Context, db, fail, pass_ctx


@click.group()
def keys() -> None:
    """The key of the secrets stored encrypted: device passwords, channels' tokens, stream URLs.

    \b
    To replace the key, with every component running:
      1. give every component the new key as PULSE_DEVICE_KEY and the old one as PULSE_DEVICE_KEY_PREVIOUS,
         and restart them one by one (both keys open what is stored; new secrets are sealed under the new key);
      2. pulse keys rotate    (re-encrypts every stored secret under the new key);
      3. pulse keys check     (exit 0: nothing is left under the old key);
      4. remove PULSE_DEVICE_KEY_PREVIOUS and restart; destroy the old key.
    """


def _keyring(ctx: Context):
    from services.core import sealing

    try:
        return sealing.keyring(ctx.settings)
    except sealing.SealingError as exc:
        fail(str(exc))


def _show(counts) -> bool:
    """One line per kind of secret; True when every one is under the current key."""
    for c in counts:
        click.echo(
            f"{c.kind}: {c.current} under the current key"
            + (f" ({c.resealed} re-encrypted now)" if c.resealed else "")
            + (f", {c.previous} under a previous key" if c.previous else "")
            + (f", {c.unreadable} that no key given opens" if c.unreadable else "")
        )
    return all(c.previous == 0 and c.unreadable == 0 for c in counts)


@keys.command("check")
@pass_ctx
def keys_check(ctx: Context) -> None:
    """How the stored secrets stand; exit 1 while one is not under PULSE_DEVICE_KEY (a rotation unfinished: keep
    the old key in PULSE_DEVICE_KEY_PREVIOUS) or none of the keys given opens it."""
    from services.core import sealing

    keyring = _keyring(ctx)
    with db(ctx) as conn:
        done = _show(sealing.check(conn, keyring))
    sys.exit(0 if done else 1)


@keys.command("rotate")
@pass_ctx
def keys_rotate(ctx: Context) -> None:
    """Re-encrypt every stored secret under PULSE_DEVICE_KEY (a batch at a time: the components keep running).
    Exit 1 when a secret that no key given opens was left as it was."""
    from services.core import audit, sealing

    keyring = _keyring(ctx)
    with db(ctx) as conn:
        counts = sealing.rotate(conn, keyring)
        said = {c.kind: {"resealed": c.resealed, "unreadable": c.unreadable} for c in counts}
        audit.record(conn, None, "keys.rotate", details=said)
    done = _show(counts)
    if not done:
        click.echo("error: some secrets are not under the current key (see above)", err=True)
    sys.exit(0 if done else 1)
