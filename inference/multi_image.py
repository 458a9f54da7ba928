"""Several images in one TorchServe request: the contract between the gateway, which sends a batch's
cache misses to the model together so that the batch pays TorchServe's hop once, and the handler, which
answers them as one list in the order sent (an image it refuses gets its error in its place).

The request is multipart: field ``image<i>`` holds the i-th image, and the header names how many there
are. TorchServe hands the handler each request's own headers, so a TorchServe batch may mix these with
single classifications and explanations.
"""

from __future__ import annotations

COUNT_HEADER = "X-Image-Count"
# Images in one request at most: more is a request no gateway sends, refused before any is decoded.
MAX_IMAGES = 256


def field(index: int) -> str:
    """The multipart field of the ``index``-th image."""
    return f"image{index}"
