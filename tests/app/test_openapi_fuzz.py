"""schemathesis against our own OpenAPI schema: no 5xx, and responses that match the schema."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.main import create_app
from app.settings import Settings
from models.checkpoint import save_checkpoint
from models.sagan import Generator, SAGANConfig


@pytest.fixture(scope="module")
def api_schema(
    tmp_path_factory: pytest.TempPathFactory, tiny_config: SAGANConfig, make_generator: Callable[..., Generator]
) -> Iterator[object]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "tiny.pt"
    save_checkpoint(path, tiny_config, make_generator(), None, {"steps": 1, "data": "test"})
    application = create_app(Settings(checkpoint=path, model_name="tiny", cache_bytes=16 * 2**20))
    with TestClient(application):
        yield schemathesis.openapi.from_asgi("/openapi.json", application)


def test_api_never_fails_on_the_server_and_matches_its_schema(api_schema: object) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 14
    for operation in operations:

        @given(case=operation.as_strategy(), data=st.data())
        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def call_and_validate(case: schemathesis.Case, data: st.DataObject) -> None:
            # Steer most cases to names that exist, so generated data reaches the rendering code.
            if case.path_parameters and "model" in case.path_parameters:
                case.path_parameters["model"] = data.draw(
                    st.sampled_from(["tiny", "tiny", case.path_parameters["model"]])
                )
            steer = (("layer", ["attn1", "attn2"]), ("colormap", ["viridis", "magma"]), ("pins", ["3,60", "1,2;63,0"]))
            for name, known in steer:
                if case.query and name in case.query:
                    case.query[name] = data.draw(st.sampled_from([*known, case.query[name]]))
            # Layer and colormap names and pins are open strings in the schema; a bad one is a documented 422.
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        call_and_validate()
