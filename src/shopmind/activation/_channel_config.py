"""The workspace's channels: ``channels.toml`` says who sends, what each message format costs and
where each channel goes, by URL::

    [sender]                         # the law wants name and contact in every advertising message
    name = "봄날상점"
    contact = "02-1234-5678"
    opt_out_phone = "080-123-4567"   # 무료 수신거부, for SMS/LMS/MMS
    email_from = "봄날상점 <news@shop.example>"
    sms_number = "0212345678"        # the registered 발신번호
    kakao_channel = "봄날상점"

    [costs]                          # KRW per message, by format (the defaults: DEFAULT_COSTS)
    lms = 27

    [channels.email]
    url = "smtp://news%40shop.example:${SMTP_PASSWORD}@smtp.example.com:587"

    [channels.sms]
    url = "file:outbox/sms.jsonl"

Secrets stay out of the file: ``${NAME}`` is replaced by the environment variable ``NAME`` when the
channel is opened (percent-encoded inside a URL, so any password fits); the other keys of a
channel's table are options for its adapter. Without ``channels.toml`` every channel writes to
``outbox/<channel>.jsonl`` in the workspace (:func:`default_channel_config`), so a demo runs
offline; with one, only the channels it names are available.

:func:`open_channel` picks the adapter by the URL's scheme from a registry: ``smtp``/``smtps``
(e-mail), ``file`` (the outbox file), ``https`` (the messaging gateway for sms and kakao, the push
API for app_push) and ``webpush`` (web push with the workspace's VAPID key). An adapter module adds
its schemes to ``_OPENERS`` below (as "module:function", imported on first use) or at run time
with :func:`register_scheme`.
"""

from __future__ import annotations

import importlib
import os
import re
import threading
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from shopmind.activation._message import CHANNELS, FORMATS, Channel, ChannelError, Message, Receipt, Sender
from shopmind.core import Clock, FieldError, InvalidInputError, SystemClock

CHANNELS_FILE = "channels.toml"
#: where the default configuration writes each channel, relative to the workspace
OUTBOX_DIR = "outbox"
#: KRW per message, typical of Korean gateways' list prices (a shop's contract replaces them)
DEFAULT_COSTS: Mapping[str, float] = {
    "sms": 9.9,
    "lms": 30.0,
    "mms": 100.0,
    "alimtalk": 7.5,
    "brand": 15.0,
    "email": 0.5,
    "app_push": 0.0,
    "web_push": 0.0,
}
#: the sender of the default configuration: placeholders for the demo shop (write channels.toml
#: with the shop's own before anything goes to a real provider)
DEMO_SENDER = Sender(
    name="데모 상점",
    contact="02-000-0000",
    opt_out_phone="080-000-0000",
    email_from="데모 상점 <news@shop.example>",
    sms_number="0200000000",
    kakao_channel="데모 상점",
)
_SENDER_FIELDS = ("name", "contact", "opt_out_phone", "email_from", "sms_number", "kakao_channel")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class OpenContext:
    """What an adapter's opener is given besides the URL: the consent ``channel`` it serves, the
    ``sender``, the workspace folder ``base`` (relative paths), the channel table's other keys
    (``options``, environment variables replaced) and the clock."""

    channel: str
    sender: Sender
    base: Path | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    clock: Clock = field(default_factory=SystemClock)

    @property
    def formats(self) -> frozenset[str]:
        """The message formats of this channel (sms: sms, lms, mms)."""
        return frozenset(f for f, c in FORMATS.items() if c == self.channel)


Opener = Callable[[str, OpenContext], Channel]
_OPENERS: dict[str, str | Opener] = {
    "smtp": "shopmind.activation._smtp:open_smtp",
    "smtps": "shopmind.activation._smtp:open_smtp",
    "file": "shopmind.activation._outbox_file:open_outbox_file",
    "http": "shopmind.activation._http_openers:open_https",  # loopback only (the adapter checks)
    "https": "shopmind.activation._http_openers:open_https",
    "webpush": "shopmind.activation._http_openers:open_webpush",
}
_OPENERS_LOCK = threading.Lock()
_PATH_SCHEMES = {"file", "webpush"}  # written scheme:path, without //


def register_scheme(scheme: str, opener: Opener) -> None:
    """Open URLs of ``scheme`` with ``opener(url, context) -> Channel`` (replacing any before)."""
    with _OPENERS_LOCK:
        _OPENERS[scheme.lower()] = opener


def _opener(scheme: str) -> Opener:
    with _OPENERS_LOCK:
        found = _OPENERS.get(scheme)
        if found is None:
            known = ", ".join(f"{s}:" if s in _PATH_SCHEMES else f"{s}://" for s in sorted(_OPENERS))
            raise ChannelError(f"no channel adapter for {scheme or 'a URL without a scheme'}: known: {known}")
        if isinstance(found, str):
            module, _, name = found.partition(":")
            found = getattr(importlib.import_module(module), name)
            _OPENERS[scheme] = found
        return found


def _substitute(text: str, where: str, env: Mapping[str, str], *, in_url: bool) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ChannelError(
                f"{where} names the environment variable {name}, which is not set: "
                f"export {name}=… before starting shopmind"
            )
        return quote(env[name], safe="") if in_url else env[name]

    return _ENV.sub(value, text)


def open_channel(
    url: str,
    *,
    channel: str,
    sender: Sender,
    base: Path | None = None,
    options: Mapping[str, Any] | None = None,
    clock: Clock | None = None,
    env: Mapping[str, str] | None = None,
    where: str = "the channel URL",
) -> Channel:
    """The adapter for ``url`` serving the consent ``channel``; ``${NAME}`` in the URL and in
    string options is replaced from ``env`` (default: the process environment)."""
    if channel not in CHANNELS:
        raise ChannelError(f"unknown channel {channel!r}; known: {', '.join(CHANNELS)}")
    env = os.environ if env is None else env
    resolved = _substitute(url, where, env, in_url=True)
    opts = {
        k: _substitute(v, f"{where.rsplit('.', 1)[0]}.{k}", env, in_url=False) if isinstance(v, str) else v
        for k, v in (options or {}).items()
    }
    scheme = urlsplit(resolved).scheme.lower()
    context = OpenContext(channel, sender, base, opts, clock or SystemClock())
    return _opener(scheme)(resolved, context)


@dataclass(frozen=True)
class ChannelSettings:
    """One channel of the configuration: its URL as written (``${NAME}`` not yet replaced) and
    the options for its adapter."""

    channel: str
    url: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def display_url(self) -> str:
        """The URL with any password written as ``***`` (for screens and logs), and the user part
        too but for e-mail's login: a gateway's or push API's user part is its API key."""
        parts = urlsplit(self.url)
        if parts.username is None and parts.password is None:
            return self.url
        host = parts.netloc.rsplit("@", 1)[1]
        user = parts.username if parts.scheme in ("smtp", "smtps") else "***"
        secret = "" if parts.password is None else ":***"
        return urlunsplit(parts._replace(netloc=f"{user}{secret}@{host}"))


@dataclass(frozen=True)
class ChannelConfig:
    """The sender, the cost of each message format (KRW) and the configured channels."""

    sender: Sender
    costs: Mapping[str, float]
    channels: Mapping[str, ChannelSettings]
    source: str = "built-in default"

    @property
    def available(self) -> tuple[str, ...]:
        """The consent channels messages can go out on, in CHANNELS order."""
        return tuple(c for c in CHANNELS if c in self.channels)

    def cost(self, format: str) -> float:
        if format not in FORMATS:
            raise ChannelError(f"unknown message format {format!r}; known: {', '.join(FORMATS)}")
        return self.costs[format]

    def open(
        self,
        channel: str,
        base: Path | None = None,
        *,
        clock: Clock | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Channel:
        """The adapter of one configured channel."""
        settings = self.channels.get(channel)
        if settings is None:
            raise ChannelError(
                f"no {channel} channel in {self.source}: add [channels.{channel}] with a url "
                f'(e.g. url = "file:{OUTBOX_DIR}/{channel}.jsonl")'
            )
        return open_channel(
            settings.url,
            channel=channel,
            sender=self.sender,
            base=base,
            options=settings.options,
            clock=clock,
            env=env,
            where=f"{self.source}: channels.{channel}.url",
        )


def default_channel_config() -> ChannelConfig:
    """Every channel to ``outbox/<channel>.jsonl`` in the workspace, the demo sender, the default costs."""
    channels = {c: ChannelSettings(c, f"file:{OUTBOX_DIR}/{c}.jsonl") for c in CHANNELS}
    return ChannelConfig(DEMO_SENDER, dict(DEFAULT_COSTS), channels)


def parse_channel_config(text: str, source: str = CHANNELS_FILE) -> ChannelConfig:
    """The configuration a ``channels.toml`` text declares; :class:`InvalidInputError` names every
    bad field (``channels.toml: costs.sms``) and why."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError([FieldError(source, f"not valid TOML: {exc}")]) from None
    errors: list[FieldError] = []

    def error(path: str, reason: str) -> None:
        errors.append(FieldError(f"{source}: {path}", reason))

    for key in data:
        if key not in ("sender", "costs", "channels"):
            error(key, "unknown table; expected [sender], [costs] and [channels.<channel>]")
    sender = _parse_sender(_table(data, "sender", error), error)
    costs = dict(DEFAULT_COSTS)
    for fmt, value in _table(data, "costs", error).items():
        if fmt not in FORMATS:
            error(f"costs.{fmt}", f"unknown message format; expected one of {', '.join(FORMATS)}")
        elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            error(f"costs.{fmt}", f"expected a cost in KRW (a number ≥ 0), got {value!r}")
        else:
            costs[fmt] = float(value)
    channels: dict[str, ChannelSettings] = {}
    for name, table in _table(data, "channels", error).items():
        path = f"channels.{name}"
        if name not in CHANNELS:
            error(path, f"unknown channel; expected one of {', '.join(CHANNELS)}")
        elif not isinstance(table, dict):
            error(path, "expected a table: [channels." + name + '] with url = "…"')
        elif not isinstance(table.get("url"), str) or not table["url"].strip():
            error(f"{path}.url", "required: where this channel's messages go (smtp://, https://, file:…)")
        else:
            url = table["url"].strip()
            if not urlsplit(url).scheme:
                error(
                    f"{path}.url", f"{url!r} has no scheme; e.g. smtp://host:587 or file:outbox/{name}.jsonl"
                )
            options = {k: v for k, v in table.items() if k != "url"}
            channels[name] = ChannelSettings(name, url, options)
    if errors:
        raise InvalidInputError(errors)
    assert sender is not None
    return ChannelConfig(sender, costs, channels, source)


def _table(data: dict[str, Any], name: str, error: Callable[[str, str], None]) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        error(name, f"expected a table [{name}]")
        return {}
    return value


def _parse_sender(table: dict[str, Any], error: Callable[[str, str], None]) -> Sender | None:
    values: dict[str, str] = {}
    for key, value in table.items():
        if key not in _SENDER_FIELDS:
            error(f"sender.{key}", f"unknown field; expected {', '.join(_SENDER_FIELDS)}")
        elif not isinstance(value, str) or not value.strip():
            error(f"sender.{key}", "expected a non-empty text")
        else:
            values[key] = value.strip()
    for key, why in (
        ("name", "the law wants the sender's name in every advertising message"),
        ("contact", "the law wants a phone number or address customers can reach the shop at"),
    ):
        if key not in values and key not in table:
            error(f"sender.{key}", f"required: {why}")
    if "name" not in values or "contact" not in values:
        return None
    return Sender(**values)


def load_channel_config(folder: str | Path) -> ChannelConfig:
    """The workspace's ``channels.toml``, or :func:`default_channel_config` when it has none."""
    file = Path(folder) / CHANNELS_FILE
    if not file.exists():
        return default_channel_config()
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError([FieldError(CHANNELS_FILE, f"cannot be read: {exc}")]) from None
    return parse_channel_config(text, CHANNELS_FILE)


class Channels:
    """Every configured channel behind one :class:`Channel`: a message goes to the adapter of its
    consent channel (e-mail to SMTP, SMS to the gateway, …), each opened on its first message and
    closed by :meth:`close`."""

    def __init__(
        self,
        config: ChannelConfig,
        base: Path | None = None,
        *,
        clock: Clock | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self.base = base
        self.formats = frozenset(f for f, c in FORMATS.items() if c in config.channels)
        self._clock = clock
        self._env = env
        self._open: dict[str, Channel] = {}
        self._lock = threading.Lock()

    def channel(self, name: str) -> Channel:
        """The adapter of consent channel ``name``, opened on first use."""
        with self._lock:
            found = self._open.get(name)
            if found is None:
                found = self.config.open(name, self.base, clock=self._clock, env=self._env)
                self._open[name] = found
            return found

    def send(self, message: Message) -> Receipt:
        if message.format not in FORMATS:
            raise ChannelError(f"unknown message format {message.format!r}")
        if message.format not in self.formats:
            raise ChannelError(
                f"no {message.channel} channel in {self.config.source}: add [channels.{message.channel}]"
            )
        return self.channel(message.channel).send(message)

    def close(self) -> None:
        with self._lock:
            opened, self._open = list(self._open.values()), {}
        for adapter in opened:
            adapter.close()
