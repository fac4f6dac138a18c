"""The packages of pdec: pdec.* found as usual, and the repository's templates/ shipped as pdec/templates/.

The templates stay at the repository's top level (templates/); in a wheel they live under pdec/templates/
(every subfolder a package of .j2 data), where pdec/emit.py looks for them first.
"""

import os

from setuptools import find_packages, setup

TEMPLATES = "templates"


def template_packages():
    """{"pdec.templates[.sub]": "templates[/sub]"} for templates/ and every folder below it."""
    out = {}
    for folder, dirs, _ in os.walk(TEMPLATES):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
        rel = os.path.relpath(folder, TEMPLATES)
        name = "pdec.templates" + ("" if rel == "." else "." + rel.replace(os.sep, "."))
        out[name] = folder
    return out


PACKAGES = template_packages()
setup(
    packages=find_packages(include=["pdec", "pdec.*"]) + sorted(PACKAGES),
    package_dir=PACKAGES,
    package_data={"pdec.runtime": ["*.py"], **{name: ["*.j2"] for name in PACKAGES}},
)
