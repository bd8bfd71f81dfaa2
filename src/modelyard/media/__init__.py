"""Images at the edge: checks, SSRF guard, remote fetch, token estimates, masks, classical segmentation.

Modules (imported on use; OpenCV and pycocotools load only when masks are made):

* `modelyard.media.decode` — Pillow decode and checks of one image (400s naming the part);
* `modelyard.media.ssrf` / `modelyard.media.fetch` — the URL guard and the capped fetcher;
* `modelyard.media.prepare` — `MediaGate`: every image part of a request, before routing;
* `modelyard.media.limits` — per-provider limits, checked on the call path;
* `modelyard.media.tokens` — per-provider image-token formulas;
* `modelyard.media.masks` — COCO RLE, mask PNGs, overlays;
* `modelyard.media.grabcut` — classical segmentation (GrabCut), not SAM.

Layer: above the data layer (types, errors, config), below providers.
"""

__all__: list[str] = []
