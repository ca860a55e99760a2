"""JSON Schema of a run spec with every installed plugin's Config, for editor completion."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field, create_model

from mtbench import spec as S
from mtbench.registry import Registry


def _variants(registry: Registry, kind: str, extra: dict[str, Any] | None = None) -> Any:
    """A union of one model per plugin of ``kind``, keyed by ``type``."""
    models = []
    for name in registry.names(kind):
        info = registry.plugins[kind].get(name)
        if info is None:
            continue
        fields = {"type": (Literal[name], ...), **(extra or {})}
        model_name = f"{kind}_{name}".replace("-", "_")
        models.append(create_model(model_name, __base__=info.cls.Config, **fields))
    if not models:
        return S.PluginSpec
    if len(models) == 1:
        return models[0]
    return Annotated[Union[tuple(models)], Field(discriminator="type")]  # noqa: UP007


def run_spec_schema(registry: Registry) -> dict:
    head_extra = {
        name: (f.annotation, f) for name, f in S.HeadSpec.model_fields.items() if name != "type"
    }
    disc = create_model(
        "DiscriminatorSpec",
        __base__=S.Strict,
        trunk=(_variants(registry, "trunk"), ...),
        heads=(list[_variants(registry, "head", head_extra)], Field(min_length=1)),
    )
    model = create_model(
        "RunSpec",
        __base__=S.RunSpec,
        dataset=(_variants(registry, "dataset"), ...),
        generator=(_variants(registry, "generator"), ...),
        discriminator=(disc, ...),
        loss=(_variants(registry, "loss"), {"type": "ns"}),
        weighting=(_variants(registry, "weighting"), {"type": "fixed"}),
        regularizers=(list[_variants(registry, "regularizer")], []),
    )
    return model.model_json_schema()
