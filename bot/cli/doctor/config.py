"""Settings for the doctor: read leniently, so that each broken variable becomes a finding, not an exit.

`load()` builds the one `Settings` object the way the entry points do (environment, then `.env`),
but a variable that does not parse or validate is recorded with what is wrong and replaced by
its default (or, for the required webhook secret, by a placeholder that is never used), so the
checks that do not need it still run. The raw values of secret variables are collected for
the redactor, since a rejected value is not kept in the settings.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from bot.cli.doctor.result import Check, fail, ok
from bot.config.pricing import PriceTable, pricing_hint
from bot.config.settings import Settings

WEBHOOK_SECRET = "ISSUESMITH_WEBHOOK_SECRET"
APP_ID = "ISSUESMITH_APP_ID"
KEY, KEY_PATH = "ISSUESMITH_PRIVATE_KEY", "ISSUESMITH_PRIVATE_KEY_PATH"
OWN_CHECK = frozenset({WEBHOOK_SECRET})  # variables reported by a check of their own, not by `settings`
KEY_PAGE = "the app's settings page (Settings → Developer settings → GitHub Apps → your app)"


def env_name(field_name: str) -> str:
    """The environment variable that sets a field of `Settings`."""
    alias = Settings.model_fields[field_name].validation_alias
    return alias if isinstance(alias, str) else field_name.upper()


_BY_ENV = {env_name(name): name for name in Settings.model_fields}


@dataclass
class Loaded:
    """The settings as far as they could be read, what is wrong with the rest, and the secrets seen."""

    settings: Settings
    problems: dict[str, str]
    secrets: list[str]
    env_file: Path | None

    def problem(self, *names: str) -> str:
        """What is wrong with the first of these variables that is broken, or ""."""
        return next((self.problems[n] for n in names if n in self.problems), "")


@dataclass
class AppKey:
    """A usable app identity: the app id and its private key (PEM)."""

    app_id: int
    pem: str = field(repr=False)


def load(env_file: Path | None) -> Loaded:
    """Read the settings; every broken variable is recorded in `problems` and falls back to its default."""
    problems: dict[str, str] = {}
    seen: list[str] = []
    lenient = _lenient_settings(problems, seen)
    overrides: dict[str, Any] = {}
    for _ in range(len(_BY_ENV) + 1):
        try:
            settings = lenient(_env_file=env_file, **overrides)  # type: ignore[call-arg]
        except ValidationError as exc:
            for error in exc.errors():
                names = _culprits(error)
                if names:  # an error about several variables (e.g. both key sources) is told once
                    problems.setdefault(names[0], _describe(names[0], str(error["msg"])))
                for name in names:
                    overrides[name] = _fallback(Settings.model_fields[_BY_ENV[name]])
            continue
        return Loaded(settings, problems, seen, env_file if env_file and env_file.is_file() else None)
    raise RuntimeError("the settings kept failing to validate after every broken variable was replaced")


def _lenient_settings(problems: dict[str, str], seen: list[str]) -> type[Settings]:
    """A `Settings` whose environment and .env sources skip (and record) values that do not parse."""

    class Lenient(Settings):
        @classmethod
        def settings_customise_sources(
                cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
            for source in (env_settings, dotenv_settings):
                _tolerate(source, problems, seen)
            return init_settings, env_settings, dotenv_settings, file_secret_settings

    return Lenient


def _tolerate(source: PydanticBaseSettingsSource, problems: dict[str, str], seen: list[str]) -> None:
    """Make `source` drop a value it cannot decode (bad JSON for a list or dict) instead of raising."""
    original = source.prepare_field_value

    def prepare(field_name: str, info: FieldInfo, value: Any, value_is_complex: bool) -> Any:
        if isinstance(value, str) and value and _is_secret(info):
            seen.append(value)
        try:
            return original(field_name, info, value, value_is_complex)
        except ValueError as exc:
            name = env_name(field_name)
            problems.setdefault(name, f"{name} is not valid JSON ({type(exc).__name__}: {exc})")
            return None

    source.prepare_field_value = prepare  # type: ignore[method-assign,assignment]


def _is_secret(info: FieldInfo) -> bool:
    return info.annotation is SecretStr or SecretStr in get_args(info.annotation)


def _culprits(error: Any) -> list[str]:
    """The environment variables a validation error is about (a model-level error names them in its text)."""
    loc = error.get("loc") or ()
    if loc:
        first = str(loc[0])
        return [first if first in _BY_ENV else env_name(first)]
    text = str(error.get("msg", ""))
    return [name for name in _BY_ENV if re.search(rf"\b{name}\b", text)]


def _describe(name: str, message: str) -> str:
    message = message.removeprefix("Value error, ")
    if message == "Field required":
        return f"{name} is not set"
    return message if message.startswith(name) else f"{name}: {message}"


def _fallback(info: FieldInfo) -> Any:
    """The value a broken variable is replaced with: its default, or a placeholder if it has none."""
    if info.default is not PydanticUndefined:
        return info.default
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return "doctor-placeholder-" + secrets.token_hex(16)  # the webhook secret; never used, never shown


# ------------------------------------------------------------------------------------------ checks


def check_settings(loaded: Loaded) -> list[Check]:
    """Every variable that does not parse or validate, one ✗ line each; ✓ when all are well formed."""
    where = f"the environment and {loaded.env_file}" if loaded.env_file else "the environment; no .env file"
    broken = {name: why for name, why in loaded.problems.items() if name not in OWN_CHECK}
    if not broken:
        return [ok("settings", f"well formed (read from {where})")]
    return [fail(f"setting {name}", why, _settings_fix(name, loaded.env_file))
            for name, why in sorted(broken.items())]


def check_model_price(settings: Settings) -> Check:
    """ISSUESMITH_MODEL has a price (built in or in ISSUESMITH_PRICES): an unpriced model's calls are refused."""
    price = PriceTable(settings.prices).price(settings.model)
    if price is None:
        return fail("model price", f"ISSUESMITH_MODEL {settings.model!r} has no price, so every run would stop at "
                                   "its first model call (its dollar budget could not be kept)",
                    pricing_hint(settings.model).replace("the operator prices it", "price it", 1))
    source = "ISSUESMITH_PRICES" if settings.model in settings.prices else "the built-in table"
    return ok("model price", f"{settings.model}: ${price[0]:g} in / ${price[1]:g} out per million tokens ({source}); "
                             f"runs stop at ${settings.run_budget_usd:g} or {settings.run_budget_tokens:,} tokens")


def _settings_fix(name: str, env_file: Path | None) -> str:
    where = f"the environment or {env_file}" if env_file else "the environment (or a .env file)"
    if name in (KEY, KEY_PATH):
        return f"set only one of {KEY_PATH} (a file) or {KEY} (the PEM text), in {where}"
    return f"correct {name} in {where}, or unset it to use the default"


def check_webhook_secret(loaded: Loaded) -> Check:
    """The webhook secret is set and not a known weak value (its value is never shown)."""
    problem = loaded.problem(WEBHOOK_SECRET)
    if problem:
        return fail("webhook secret", problem,
                    f"generate one (`openssl rand -hex 32`), enter it as the webhook secret on {KEY_PAGE} "
                    f"and set {WEBHOOK_SECRET} to the same value")
    return ok("webhook secret", f"{WEBHOOK_SECRET} is set (value not shown) and is not a known weak value")


def check_app_key(loaded: Loaded) -> tuple[Check, AppKey | None]:
    """The app id is set and the private key is there and parses as an RSA key (the API check says if it matches)."""
    name = "GitHub App key"
    settings = loaded.settings
    broken = loaded.problem(APP_ID, KEY, KEY_PATH)
    if broken:
        return fail(name, f"cannot be used: {broken}", "see the settings lines above"), None
    if settings.app_id is None:
        return fail(name, f"{APP_ID} is not set", f"set {APP_ID} to the App ID shown on {KEY_PAGE}"), None
    source = KEY if settings.private_key is not None else KEY_PATH
    try:
        pem = settings.app_private_key()
    except ValueError:
        return fail(name, f"no private key: neither {KEY_PATH} nor {KEY} is set",
                    f"generate a private key on {KEY_PAGE} and set {KEY_PATH} to the downloaded .pem file"), None
    except OSError as exc:
        return fail(name, f"{KEY_PATH} names {settings.private_key_path}, which cannot be read "
                          f"({exc.strerror or type(exc).__name__})",
                    f"point {KEY_PATH} at the .pem file downloaded from {KEY_PAGE}, readable by this user"), None
    problem = _key_problem(pem)
    if problem:
        return fail(name, f"the key in {source} {problem}",
                    f"download a new private key from {KEY_PAGE}; set {KEY_PATH} to the .pem file as downloaded"), None
    where = f"{KEY_PATH} ({settings.private_key_path})" if source == KEY_PATH else KEY
    return ok(name, f"app id {settings.app_id}; an RSA private key from {where} parses"), AppKey(settings.app_id, pem)


def _key_problem(pem: str) -> str:
    """Why `pem` is not a usable GitHub App key, or ""."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except TypeError:
        return "is encrypted with a passphrase; GitHub App keys are used as downloaded, unencrypted"
    except ValueError:
        return "is not a PEM private key (expected -----BEGIN RSA PRIVATE KEY----- ...)"
    if not isinstance(key, rsa.RSAPrivateKey):
        return f"is a {type(key).__name__.lstrip('_')}, not an RSA key as GitHub Apps use"
    return ""
