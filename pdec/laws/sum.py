"""Sum: S_t = sum of independent scales, one per term of psi (the kernel is the product of theirs)."""

from __future__ import annotations

from .base import Law, LawSpec, register


@register
class Sum(Law):
    """The law of a psi with several terms; its components are LawSpecs (``LawSpec.components``)."""

    name = "Sum"

    @classmethod
    def build(cls, spec: LawSpec):
        return cls.runtime()(*(c.build() for c in spec.components))

    @classmethod
    def source(cls, spec: LawSpec) -> str:
        return "Sum(" + ", ".join(c.to_source() for c in spec.components) + ")"

    @classmethod
    def text(cls, spec: LawSpec) -> str:
        return " + ".join(str(c) for c in spec.components)
