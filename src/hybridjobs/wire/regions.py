"""Which regions a signed request may name in its credential scope.

The regions are the ones botocore's endpoint data knows, in every partition (``aws``,
``aws-cn``, ``aws-us-gov``, the ISO partitions …): the regions a real AWS client can be
configured for. A request signed for any other region (a typo, or a made-up one) is
refused when signatures are verified. S3 follows the same rule: clients without a region
sign S3 requests for ``us-east-1``, which is in the list.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import botocore.session


@functools.cache
def botocore_regions() -> frozenset[str]:
    """Every region named in botocore's ``endpoints`` data, over all partitions."""
    loader = botocore.session.get_session().get_component("data_loader")
    endpoints = loader.load_data("endpoints")
    return frozenset(
        region for partition in endpoints["partitions"] for region in partition["regions"]
    )


def known_regions(extra: Iterable[str] = ()) -> frozenset[str]:
    """botocore's regions plus ``extra`` (the service's own default region, which an
    operator may have set to a name AWS does not use)."""
    return botocore_regions() | frozenset(extra)
