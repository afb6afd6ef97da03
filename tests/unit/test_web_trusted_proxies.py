"""[web] trusted_proxies is checked when the config is read, not at the first post."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from qn_bot.config import Config


def test_networks_and_single_addresses_are_accepted() -> None:
    config = Config.model_validate({"web": {"trusted_proxies": ["10.0.0.0/8", "127.0.0.1", "::1"]}})
    assert config.web.trusted_proxies == ("10.0.0.0/8", "127.0.0.1", "::1")
    assert Config().web.trusted_proxies == ()


def test_a_mistyped_network_is_an_error_naming_it() -> None:
    with pytest.raises(ValidationError, match=r"10\.0\.0\.0/33"):
        Config.model_validate({"web": {"trusted_proxies": ["10.0.0.0/33"]}})
