"""Job images as environments: which interpreter runs a job that names a container image.

:mod:`~hybridjobs.environments.images` knows the Braket image URIs, :mod:`.catalog` maps an
image URI to an environment (a shipped spec, an operator's requirements file or an
existing interpreter), :mod:`.build` builds an environment with uv once and caches it.
"""
