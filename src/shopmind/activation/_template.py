"""Message templates: Jinja2 in a sandbox (a template is marketer input: it may read the fields it is
given, never Python's insides), rendered per customer into a :class:`Draft`.

What a template may use (``CONTEXT_FIELDS``; :mod:`._context` builds them for many customers at
once): the customer's fields (profile and member id, segment, region, scores, taste, habits), a
``recommended`` list of products picked for them by the hybrid recommender, each with the reason in
the template's language, their ``coupon`` code, and tracked links: ``{{ link('https://…') }}``
records the target in ``Draft.links`` and writes the URL the caller's ``tracked`` function gives
for it (a signed click redirect; without one, the target itself, as in a preview).

Korean text reads as written by a person: placeholder particles after a field ("{{ item.name }}을(를)")
take the form the word wants ("김치를", "라면을"), and the ``josa`` filter does the same
(``{{ item.name | josa('을/를') }}``); ``won`` writes a price as "12,900원" (English: "₩12,900").

A template that cannot be used — bad syntax, an unknown filter, a field that does not exist, a
reach into Python's insides, a link that is not a web address — is an :class:`InvalidInputError`
naming the field (``steps[0].messages.sms.text``), the line and why.

Text messages are counted as the Korean carriers count them (``carrier_bytes``): a short message
(SMS) holds 90 bytes, a Korean character taking 2, an ASCII one 1; longer text goes as an LMS (up to
2,000 bytes), with an image as an MMS.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import jinja2
import jinja2.filters
from jinja2 import meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from shopmind.activation._message import FORMATS, Kind
from shopmind.activation._rules import advertising_words
from shopmind.core import FieldError, InvalidInputError, resolve_particles
from shopmind.core import particle as korean_particle

SMS_BYTES = 90  # a short message, counted in EUC-KR bytes as the carriers count (a Korean character is 2)
LMS_BYTES = 2000
LOCALES = ("ko", "en")

#: what a template may read, with what it holds (the dashboard lists these beside the editor)
CONTEXT_FIELDS: dict[str, str] = {
    "profile_id": "the customer's profile id",
    "member_id": "their member id at the shop (none for a guest)",
    "name_or_customer": "their name when the shop gave one, else 고객 / customer (write {{ name_or_customer }}님)",
    "segment": "their RFM segment's key (vip, loyal, at_risk, dormant_vip …)",
    "segment_name": "that segment's name in the template's language",
    "lists": "the model lists they are on (clv_vip, vip_at_risk, could_become_vip)",
    "vip": "true for a VIP",
    "region": "the region their latest visit came from (서울, 부산 …)",
    "scores": "every score of the latest runs by name (scores.churn_risk, scores.clv_12m …)",
    "churn_risk": "the chance they stop buying (0–1)",
    "clv_12m": "their expected spend over the next 12 months (KRW)",
    "p_alive": "the chance they are still a customer (0–1)",
    "taste": "their taste: taste.categories, taste.brands (favourites first)",
    "favourite_category": "their favourite category",
    "favourite_brand": "their favourite brand",
    "send_hour": "the hour they read best (0–23, shop time)",
    "send_channel": "the channel they answer on (email, sms, app_push …)",
    "recommended": "products picked for them: each has name, product_id, category, brand, price, url, reason",
    "coupon": "their coupon code (the step's coupon)",
    "shop": "the shop's name (the sender)",
    "locale": "ko or en",
    "link": "link('https://…'): a tracked link to the address",
}


@dataclass(frozen=True)
class Template:
    """What a marketer writes for one step on one channel (``ko`` or ``en``)."""

    text: str
    subject: str | None = None
    html: str | None = None
    template_code: str | None = None  # Kakao 알림톡: the registered template this text is
    image_url: str | None = None
    locale: str = "ko"


@dataclass(frozen=True)
class Draft:
    """A template rendered for one customer, before the compliance step adds what the law wants."""

    format: str
    text: str
    subject: str | None = None
    html: str | None = None
    template_code: str | None = None
    image_url: str | None = None
    links: tuple[str, ...] = ()  # the target URLs of tracked links, in order
    locale: str = "ko"

    @property
    def carrier_bytes(self) -> int:
        """The text's length as the carriers count it (see ``carrier_bytes``)."""
        return carrier_bytes(self.text)


def carrier_bytes(text: str) -> int:
    """The length the Korean carriers charge by: EUC-KR bytes, an ASCII character 1 and any other
    2 (Korean, and also the characters EUC-KR lacks, which the gateways send as two-byte CP949
    or replace: a message is never longer than counted here)."""
    return sum(1 if ord(ch) < 0x80 else 2 for ch in text)


def unsendable(text: str) -> list[str]:
    """The characters of ``text`` a text message cannot carry (outside CP949, e.g. emoji), once
    each in order: gateways replace them with "?" or refuse the message."""
    seen: list[str] = []
    for ch in text:
        if ord(ch) >= 0x80 and ch not in seen:
            try:
                ch.encode("cp949")
            except UnicodeEncodeError:
                seen.append(ch)
    return seen


def format_for(channel: str, kind: Kind, text: str, image_url: str | None = None) -> str:
    """The format a message takes on ``channel``: SMS up to 90 bytes, else LMS (MMS with an
    image); Kakao 알림톡 for information, 브랜드 메시지 for advertising."""
    if channel == "sms":
        if image_url:
            return "mms"
        return "sms" if carrier_bytes(text) <= SMS_BYTES else "lms"
    if channel == "kakao":
        return "alimtalk" if kind == "informational" else "brand"
    if channel not in FORMATS:
        known = ", ".join(sorted(set(FORMATS.values())))
        raise InvalidInputError([FieldError("channel", f"{channel!r}: expected one of {known}")])
    return channel


# -- the sandbox ---------------------------------------------------------------------------------
_TEMPLATE_FILE = "<template>"  # the file name Jinja gives a template's frames in a traceback


def _finalize(value: Any) -> Any:
    """What ``{{ … }}`` writes for a value: nothing for a missing one (not "None")."""
    return "" if value is None else value


@jinja2.pass_context
def _won(context: jinja2.runtime.Context, value: Any) -> str:
    """A price in won as the template's language writes it: 12,900원 / ₩12,900."""
    if value is None or value == "" or isinstance(value, jinja2.Undefined):
        return ""
    amount = float(value)
    if not math.isfinite(amount):
        return ""
    text = f"{round(amount):,}"
    return f"₩{text}" if context.get("locale") == "en" else f"{text}원"


def _josa(word: Any, which: str) -> str:
    """``word`` followed by the form of the particle ``which`` ("을/를", "이/가", "(으)로" …) it takes."""
    text = "" if word is None or isinstance(word, jinja2.Undefined) else str(word)
    return text + korean_particle(text, which) if text else text


#: what one field of one message may come to (characters): far above any real message (Gmail
#: clips an e-mail at 102 KB), far below what would hurt the server rendering a whole campaign
MAX_RENDERED_CHARS = 200_000
#: loop steps one field's rendering may take, all loops together (a recommended list has ~10)
MAX_LOOP_STEPS = 100_000
#: the widest padding a template may ask for ("%-10s", "{:>8}", center(40))
MAX_WIDTH = 1_000
#: the largest power a template may raise a number to (a huge one takes long to print)
MAX_EXPONENT = 64


class _TooLarge(SecurityError):
    """A template asked for more than a message can be (see ``MAX_RENDERED_CHARS``)."""


_LOOP_STEPS: ContextVar[list[int] | None] = ContextVar("template_loop_steps", default=None)
_PRINTF_WIDTHS = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_FORMAT_SPECS = re.compile(r"\{[^{}]*?:([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")
_PADDING_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})


def _check_width(width: Any) -> None:
    if isinstance(width, int) and width > MAX_WIDTH:
        raise _TooLarge(f"a width of {width:,} is too wide (at most {MAX_WIDTH:,})")


def _check_printf(template: str) -> None:
    """``"%-10s" % x``, ``"%*d" % (w, x)`` and the ``format`` filter: no width past ``MAX_WIDTH``."""
    for match in _PRINTF_WIDTHS.finditer(template):
        for part in match.groups():
            if part == "*":
                raise _TooLarge("a width taken from the arguments (%*) is too open-ended for a template")
            if part:
                _check_width(int(part))


def _check_format_spec(template: str) -> None:
    """``"{:>8}".format(x)``: no width past ``MAX_WIDTH``, none taken from the arguments."""
    for spec in _FORMAT_SPECS.findall(template):
        if "{" in spec:
            raise _TooLarge("a width taken from the arguments ({:{}}) is too open-ended for a template")
        for digits in re.findall(r"\d+", spec):
            _check_width(int(digits))


def _budgeted(iterable: Any) -> Any:
    """Every loop's iterable passes through here (see ``_count_loops``): the steps of one field's
    rendering, all loops together, stop at ``MAX_LOOP_STEPS``."""
    steps = _LOOP_STEPS.get()
    if steps is None:  # rendered outside ``_render_field`` (not done here): no budget to keep
        yield from iterable
        return
    for item in iterable:
        steps[0] += 1
        if steps[0] > MAX_LOOP_STEPS:
            raise _TooLarge(f"the template's loops take too many steps (more than {MAX_LOOP_STEPS:,})")
        yield item


def _count_loops(tree: nodes.Template) -> nodes.Template:
    """Each ``{% for %}`` iterates through ``_budgeted`` (a filter call put around its iterable)."""
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Filter(loop.iter, _BUDGET_FILTER, [], [], None, None, lineno=loop.lineno)
    return tree


_BUDGET_FILTER = "_shopmind_loop_budget"


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, strict: reaching for Python's insides (``__class__``, ``mro``, a list's
    ``append``) is an error naming the line, not an empty string a marketer would never notice. A
    template is also kept from building text far larger than a message (a multiplied string, a
    huge padding width, a power too large to print, a long lorem ipsum): the renderer would spend
    seconds and gigabytes on it before any size check could see the result."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        raise SecurityError(f"{attribute!r} of a {type(obj).__name__} is not available to templates")

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                if (
                    isinstance(sequence, str | list | tuple)
                    and isinstance(times, int)
                    and len(sequence) * times > MAX_RENDERED_CHARS
                ):
                    raise _TooLarge(
                        f"repeating {len(sequence):,} characters {times:,} times is too long "
                        f"(a field holds at most {MAX_RENDERED_CHARS:,})"
                    )
        elif operator == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise _TooLarge(f"a power of {right} is too large (at most {MAX_EXPONENT})")
        elif operator == "%" and isinstance(left, str):
            _check_printf(left)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: jinja2.runtime.Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        target = getattr(__obj, "__wrapped__", __obj)  # str.format comes wrapped by the sandbox
        owner = getattr(target, "__self__", None)
        name = getattr(target, "__name__", "")
        if isinstance(owner, str):
            if name in ("format", "format_map"):
                _check_format_spec(owner)
            elif name in _PADDING_METHODS:
                for width in (*args, *kwargs.values()):
                    _check_width(width)
        elif __obj is __self.globals.get("lipsum"):
            for count in (*args, *kwargs.values()):
                if isinstance(count, int) and count > 20:
                    raise _TooLarge(f"lipsum({count}) is too long (at most 20 paragraphs)")
        return super().call(__context, __obj, *args, **kwargs)


def _checked_center(value: Any, width: int = 80) -> str:
    _check_width(width)
    return str(value).center(width)


def _checked_indent(value: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    _check_width(width)
    if isinstance(width, str):
        _check_width(len(width))
    return jinja2.filters.do_indent(value, width, first, blank)


def _checked_format(value: Any, *args: Any, **kwargs: Any) -> str:
    _check_printf(str(value))
    return jinja2.filters.do_format(value, *args, **kwargs)


def _environment(html: bool) -> ImmutableSandboxedEnvironment:
    env = _Sandbox(
        autoescape=html,
        undefined=jinja2.ChainableUndefined,  # a customer without a field reads as empty, not an error
        finalize=_finalize,
        keep_trailing_newline=False,
    )
    env.filters["won"] = _won
    env.filters["josa"] = _josa
    env.filters["center"] = _checked_center
    env.filters["indent"] = _checked_indent
    env.filters["format"] = _checked_format
    env.filters[_BUDGET_FILTER] = _budgeted
    return env


_TEXT_ENV = _environment(html=False)
_HTML_ENV = _environment(html=True)


@dataclass(frozen=True)
class _Compiled:
    template: jinja2.Template
    names: dict[str, int]  # the fields it reads (not set inside it) → the line of first use


class _TemplateFault(Exception):
    """A template's own fault found while rendering (a bad link): the line is found by the caller."""


@functools.lru_cache(maxsize=512)
def _compile(source: str, html: bool) -> _Compiled:
    """The template compiled once per source (a campaign renders it for every customer)."""
    env = _HTML_ENV if html else _TEXT_ENV
    tree = _count_loops(env.parse(source))
    undeclared = meta.find_undeclared_variables(tree)
    names: dict[str, int] = {}
    for node in tree.find_all(nodes.Name):
        if node.ctx == "load" and node.name in undeclared and node.name not in names:
            names[node.name] = node.lineno
    return _Compiled(env.from_string(tree), names)


def _where(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _template_line(tb: TracebackType | None) -> int | None:
    """The template's line a rendering error happened on (Jinja maps its frames to the template)."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _TEMPLATE_FILE:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _fault(field: str, line: int | None, reason: str) -> InvalidInputError:
    at = f"line {line}: " if line else ""
    return InvalidInputError([FieldError(field, f"{at}{reason}")])


def compile_field(
    source: str, field: str, *, html: bool = False, known: Mapping[str, Any] | None = None
) -> None:
    """Check one template field without rendering it: syntax, filters and fields (the ones of
    ``CONTEXT_FIELDS`` and of ``known``); InvalidInputError naming ``field`` and the line."""
    compiled = _compiled_or_fault(source, field, html)
    for name, line in compiled.names.items():
        if name not in CONTEXT_FIELDS and (known is None or name not in known):
            raise _fault(
                field, line, f"unknown field {name!r}: a template can use {', '.join(CONTEXT_FIELDS)}"
            )


def _compiled_or_fault(source: str, field: str, html: bool) -> _Compiled:
    try:
        return _compile(source, html)
    except jinja2.TemplateSyntaxError as exc:  # bad syntax, an unknown filter or test
        raise _fault(field, exc.lineno, exc.message or "the template cannot be read") from None


def _render_field(source: str, field: str, html: bool, context: Mapping[str, Any]) -> str:
    compile_field(source, field, html=html, known=context)
    compiled = _compile(source, html)
    budget = _LOOP_STEPS.set([0])
    try:
        return _bounded(compiled.template.generate(context))
    except SecurityError as exc:
        raise _fault(field, _template_line(exc.__traceback__), f"not allowed in a template: {exc}") from None
    except _TemplateFault as exc:
        raise _fault(field, _template_line(exc.__traceback__), str(exc)) from None
    except RecursionError:  # a macro calling itself without end
        raise _fault(field, None, "too deep: a macro calls itself without end") from None
    except (jinja2.TemplateError, ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as exc:
        raise _fault(field, _template_line(exc.__traceback__), f"cannot be written: {exc}") from None
    finally:
        _LOOP_STEPS.reset(budget)


def _bounded(pieces: Iterator[str]) -> str:
    """The rendered pieces joined, stopping as soon as they pass ``MAX_RENDERED_CHARS``."""
    out: list[str] = []
    size = 0
    for piece in pieces:
        size += len(piece)
        if size > MAX_RENDERED_CHARS:
            raise _TooLarge(f"the message is too long (more than {MAX_RENDERED_CHARS:,} characters)")
        out.append(piece)
    return "".join(out)


def check_template(
    template: Template, channel: str, kind: Kind = "advertising", where: str = ""
) -> list[FieldError]:
    """What is wrong with ``template`` for ``kind`` messages on ``channel`` before any customer
    is rendered: each field's syntax, filters and fields; a Kakao 알림톡 (informational) with
    advertising words or without its registered template code; an e-mail without a subject."""
    errors: list[FieldError] = []
    fields = (
        ("text", template.text, False),
        ("subject", template.subject, False),
        ("html", template.html, True),
    )
    for name, source, html in fields:
        if source is None:
            continue
        try:
            compile_field(source, _where(where, name), html=html)
        except InvalidInputError as exc:
            errors.extend(exc.errors)
    if template.locale not in LOCALES:
        errors.append(FieldError(_where(where, "locale"), f"expected one of {', '.join(LOCALES)}"))
    if channel == "email" and not (template.subject or "").strip():
        errors.append(FieldError(_where(where, "subject"), "an e-mail needs a subject"))
    if channel == "kakao" and kind == "informational":
        if not template.template_code:
            errors.append(
                FieldError(
                    _where(where, "template_code"), "an 알림톡 needs the code of its registered template"
                )
            )
        words = advertising_words(" ".join(s for s in (template.text, template.subject) if s))
        if words:
            errors.append(
                FieldError(
                    _where(where, "text"),
                    f"advertises ({', '.join(words)}): an 알림톡 carries information only; "
                    "send it as an advertising message (브랜드 메시지)",
                )
            )
    return errors


def render(
    template: Template,
    context: Mapping[str, Any],
    channel: str,
    kind: Kind = "advertising",
    *,
    tracked: Callable[[int, str], str] | None = None,
    where: str = "",
) -> Draft:
    """``template`` for the customer described by ``context``, on ``channel``. ``tracked(i, target)``
    gives the URL written for the ``i``-th distinct link target (default: the target itself);
    ``where`` names the template in errors (``steps[0].messages.sms``)."""
    links: list[str] = []

    def link(target: Any) -> str:
        url = str(target).strip() if target is not None else ""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _TemplateFault(f"link({url!r}): expected a web address starting with https:// or http://")
        if url not in links:
            links.append(url)
        index = links.index(url)
        return tracked(index, url) if tracked is not None else url

    full = {**context, "link": link}
    locale = template.locale

    def write(name: str, source: str, html: bool = False) -> str:
        out = _render_field(source, _where(where, name), html, full)
        return resolve_particles(out) if locale == "ko" and not html else out

    text = write("text", template.text).strip()
    subject = write("subject", template.subject).strip() if template.subject else None
    html = write("html", template.html, html=True) if template.html else None
    fmt = format_for(channel, kind, text, template.image_url)
    if fmt in ("lms", "mms") and carrier_bytes(text) > LMS_BYTES:
        raise InvalidInputError(
            [
                FieldError(
                    _where(where, "text"),
                    f"{carrier_bytes(text):,} bytes: a text message holds at most {LMS_BYTES:,} (a Korean character is 2)",
                )
            ]
        )
    return Draft(
        format=fmt,
        text=text,
        subject=subject,
        html=html,
        template_code=template.template_code,
        image_url=template.image_url,
        links=tuple(links),
        locale=locale,
    )


def with_format(draft: Draft, channel: str, kind: Kind) -> Draft:
    """``draft`` with the format its text now wants on ``channel`` (after text was added to it)."""
    return replace(draft, format=format_for(channel, kind, draft.text, draft.image_url))
