"""The model cache against the registry: copies are checked, an unreachable registry is named.

Issue #25 finding 2: a tampered model cache was served silently. Registration records the
digest of the model's artifact.json (which records every other file's); a cached copy that
differs is refused naming the file, with the registry up or down. With the registry down, a
cached copy that checks out still serves (decision in docs/reliability.md), with a warning.
"""

from __future__ import annotations

import logging
import uuid

import pytest

from models.artifact import ArtifactError, read_meta, write_meta
from models.kinds import PRICING
from models.pricing.predictor import PricingPredictor
from models.registry import DIGEST_TAG, ModelNotFoundError
from serving.runtime import StartupError, load_pricing_at, resolve
from tests.reliability.model_faults import copy_model, flip_byte
from tests.serving.api_models import service_home
from training.tracking import tracked_run, version_tags

CLOSED = "http://127.0.0.1:9"
"""A registry address nothing listens on (the discard port)."""


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return service_home(tmp_path_factory.getbasetemp() / "service-models")


@pytest.fixture
def registered(home, tmp_path, settings):
    """A copy of the tiny pricing model registered as the @champion of a name of its own."""
    name = f"regrade-pricing-{uuid.uuid4().hex[:8]}"
    folder = copy_model(home, "pricing", tmp_path / "model")
    with tracked_run("pricing", out=tmp_path / "run", config={}, settings=settings) as run:
        version = run.register(folder, name, promote=True)
    return f"models:/{name}@champion", name, version


def test_registration_records_the_digest_and_a_clean_copy_loads(registered, settings):
    uri, name, version = registered
    tags = version_tags(name, version, settings=settings)
    assert len(tags[DIGEST_TAG]) == 64
    found = settings.resolve_model(uri)
    assert PricingPredictor.load(found.path).has_time_to_sell


def test_a_flipped_byte_in_the_cache_is_refused_naming_the_file(registered, settings):
    uri, *_ = registered
    cached = settings.resolve_model(uri).path
    flip_byte(cached / "price_p50.txt")
    again = settings.resolve_model(uri).path  # artifact.json itself is intact
    with pytest.raises(StartupError) as caught:
        load_pricing_at(again)
    assert f"{cached / 'price_p50.txt'}: sha256" in str(caught.value)


@pytest.mark.parametrize("online", [True, False], ids=["registry-up", "registry-down"])
def test_a_cache_rewritten_with_its_own_digests_is_refused(registered, settings, online):
    uri, *_ = registered
    cached = settings.resolve_model(uri).path
    flip_byte(cached / "price_p50.txt")
    write_meta(cached, read_meta(cached, PRICING))  # the digests made to match the change
    offline = settings.model_copy(update={"mlflow_uri": CLOSED})
    with pytest.raises(ArtifactError, match=r"artifact\.json: sha256 .* does not match"):
        (settings if online else offline).resolve_model(uri)


def test_an_unreachable_registry_is_named_and_a_good_cache_still_serves(
    registered, settings, caplog
):
    uri, name, version = registered
    first = settings.resolve_model(uri)
    offline = settings.model_copy(update={"mlflow_uri": CLOSED})
    with caplog.at_level(logging.WARNING, logger="models.registry"):
        assert offline.resolve_model(uri) == first
    assert (
        f"registry at {CLOSED} is unreachable" in caplog.text
        and f"version {version}" in caplog.text
    )
    missing = offline.model_copy(update={"pricing_model": f"models:/{name}-none@champion"})
    with pytest.raises(StartupError) as caught:
        resolve("pricing", missing)
    message = str(caught.value)
    assert f"registry at {CLOSED} unreachable" in message
    assert str(offline.model_cache_dir) in message and "\n" not in message
    with pytest.raises(ModelNotFoundError, match="unreachable and no cached copy"):
        offline.resolve_model(f"models:/{name}-none@champion")
