"""TorchServe handler: which FromSoftware game is this screenshot from?

TorchServe calls ``initialize`` once and ``handle`` per batch. The class is its own, not a subclass of
TorchServe's BaseHandler (whose module uses torch as it is imported): a worker serving an ONNX form never
imports torch (ops/worker_site/sitecustomize.py), and only the TorchScript and eager forms and the first
explanation load it, each where it needs it. TorchServe's preprocess, inference and postprocess are four
stages here, each a method over a plain function of this package or of inference/, which tests call
without the Java server. The answer's ``timings_ms`` name them decode, preprocess, inference and
postprocess.

    TorchServe's name   here         what it does
    preprocess          decode       validate the upload and decode it (handler.image_decode)
                        transform    resize, crop and normalise it (inference.preprocessing)
    inference           infer        run the batch through the model (inference.runtime)
    postprocess         answer       calibrated probabilities, ranked; "unknown" below the threshold
                                     (inference.scoring)

One bad image in a batch gets its own 4xx status and JSON error while its neighbours succeed, whatever it
raised: an exception the decoder did not foresee is logged with its traceback under the request's ID and
refused as that image's 422, where it once failed the whole TorchServe batch with a 503 "busy" that
clients retried. A request may carry several images (inference.multi_image), answered as one list.
TorchServe allows one class per handler module: this is it.

Each classification or explanation is logged on one JSON line under the gateway's X-Request-ID
(TorchServe copies the worker's output into its model_log), so one upload can be followed from nginx's
log to the gateway's to TorchServe's. Only chosen fields are logged: TorchServe hands the handler every
header of a request, its token among them.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from handler.image_decode import ImageRejectedError, decode_image, payload_bytes, request_images
from handler.settings import ServingSettings
from inference.answers import HandlerClassification, HandlerExplanation, ModelRef
from inference.archive_digest import digest_of_folder
from inference.image_limits import ImageLimitError
from inference.multi_image import COUNT_HEADER, MAX_IMAGES
from inference.onnx_runner import Runner
from inference.preprocessing import Preprocessing, eval_transform
from inference.runtime import load_eager, load_runner
from inference.scoring import answer, calibrated

if TYPE_CHECKING:
    from torch import nn

logger = logging.getLogger(__name__)
HEATMAP_GRID = (9, 16)  # rows, cols: 16:9 like the frames
Place = tuple[int, int | None]  # the request in the batch, and the image's place in a multi-image one
Prepared = tuple[Place, np.ndarray, dict[str, float]]  # where its answer goes, input (3, H, W), timings


class FromSoftHandler:
    def initialize(self, context: Any) -> None:
        self.context = context
        self.manifest = context.manifest
        properties = context.system_properties
        model_dir = Path(properties["model_dir"])
        self.meta = json.loads((model_dir / "model_meta.json").read_text())
        card = model_dir / "model_card.json"  # written by training export since the card existed
        self.card = json.loads(card.read_text()) if card.is_file() else None
        config = getattr(context, "model_yaml_config", None) or {}
        self.settings = ServingSettings.load(config.get("handler", {}) if isinstance(config, dict) else {})
        threads = self.settings.threads  # workers x threads should match the cores (config.properties)
        Image.MAX_IMAGE_PIXELS = self.settings.max_pixels
        self.pre = Preprocessing.from_dict(self.meta["preprocessing"])
        self.labels: list[str] = self.meta["labels"]
        self.names: dict[str, str] = self.meta["display_names"]
        self.temperature = float(self.meta["temperature"])
        self.threshold = float(self.meta["unknown_threshold"])
        self.model_ref = ModelRef(
            name=self.manifest["model"]["modelName"],
            version=self.manifest["model"]["modelVersion"],
            # what answered, beside its name and version: a re-exported archive keys the cache anew
            digest=digest_of_folder(model_dir),
        )
        self.preprocessing_version = self.pre.version
        self.runner: Runner = self._load_runner(model_dir, self.meta["form"], threads)
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="decode")
        self._explainer: nn.Module | None = None
        self.model_dir = model_dir
        logger.info("fromsoft handler ready: %s form=%s %s", self.model_ref, self.meta["form"], self.settings)

    def _load_runner(self, model_dir: Path, form: str, threads: int) -> Runner:
        serialized = model_dir / self.manifest["model"]["serializedFile"]
        return load_runner(
            serialized, form, self.meta["arch"], len(self.labels), threads, self.settings.spin_wait
        )

    def _eager_model(self, model_dir: Path) -> nn.Module:
        return load_eager(
            model_dir / "weights.pt", self.meta["arch"], len(self.labels), self.settings.threads
        )

    # -- the four stages ------------------------------------------------------------------------------
    def decode(self, entry: Any) -> Image.Image:
        limits = self.settings
        return decode_image(
            payload_bytes(entry), self.pre.resize_size, limits.max_upload_bytes, limits.max_pixels
        )

    def transform(self, image: Image.Image) -> np.ndarray:
        return eval_transform(image, self.pre)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return self.runner(batch)

    def answer(self, logits: np.ndarray) -> list[dict[str, Any]]:
        probs = calibrated(logits, self.temperature)
        return [answer(p, self.labels, self.names, self.threshold) for p in probs]

    # -- TorchServe entry point -----------------------------------------------------------------------
    def handle(self, data: list[Any], context: Any) -> list[Any]:
        """One answer per request of the batch. Each request says by its own headers what it asks for
        (TorchServe batches classifications, explanations, multi-image classifications and descriptions
        from different clients together): each is answered as it asked, and a bad image fails alone, in
        its own request or in its place of a multi-image request's list."""
        self.context = context
        started = time.perf_counter()
        results: list[Any] = [None] * len(data)
        wanted = [self._wanted(context, index) for index in range(len(data))]
        images: list[tuple[Place, Any]] = []  # every image of the batch, and where its answer goes
        for index, (entry, want) in enumerate(zip(data, wanted, strict=True)):
            if want == "describe":  # GET /models/<name>?customized=true
                results[index] = self.describe()
            elif want == "classify_many":
                try:
                    payloads = request_images(entry, _header(context, index, COUNT_HEADER))
                except ImageRejectedError as rejected:
                    results[index] = self._reject(index, rejected)
                    continue
                results[index] = [None] * len(payloads)
                images += [((index, slot), payload) for slot, payload in enumerate(payloads)]
            else:
                images.append(((index, None), entry))
        refused = self._prepare_all(images, wanted, results)
        for index in range(len(data)):
            context.set_response_content_type(index, "application/json")
        handler_ms = round((time.perf_counter() - started) * 1000, 2)
        context.metrics.add_time("HandlerTime", handler_ms, None, "ms")
        for index, want in enumerate(wanted):
            if want != "describe":
                self._log(context, index, want, results[index], handler_ms, len(data), refused.get(index, []))
        return [json.dumps(result) for result in results]

    def _prepare_all(
        self, images: list[tuple[Place, Any]], wanted: list[str], results: list[Any]
    ) -> dict[int, list[str | None]]:
        """Decode and preprocess every image, then answer them: the classifications of every request in
        one run of the model, the explanations one by one. Returns the decoders' own words on the images
        refused, by request: for the log only."""
        # Pillow releases the GIL while decoding and resizing: a batch's images are prepared in parallel;
        # a single image here, without a hop to another thread.
        payloads = [payload for _, payload in images]
        outcomes = self.pool.map(self._prepare, payloads) if len(images) > 1 else map(self._prepare, payloads)
        prepared: dict[str, list[Prepared]] = {"classify": [], "explain": []}
        refused: dict[int, list[str | None]] = {}
        for (place, _), outcome in zip(images, outcomes, strict=True):
            if isinstance(outcome, Exception):
                rejected = self._refusal(place[0], outcome)
                self._place(results, place, self._reject(place[0], rejected, place[1]))
                refused.setdefault(place[0], []).append(rejected.detail)
            else:
                prepared["explain" if wanted[place[0]] == "explain" else "classify"].append((place, *outcome))
        if prepared["classify"]:
            self._classify(prepared["classify"], results)
        if prepared["explain"]:
            self._explain(prepared["explain"], results)
        return refused

    @staticmethod
    def _place(results: list[Any], place: Place, answer: dict[str, Any]) -> None:
        index, slot = place
        if slot is None:
            results[index] = answer
        else:
            results[index][slot] = answer

    @staticmethod
    def _log(
        context: Any,
        index: int,
        kind: str,
        result: Any,
        handler_ms: float,
        batch: int,
        details: list[str | None],
    ) -> None:
        """Request ``index``'s line: its ID (the header in whatever case it was sent), what it asked for,
        its error code and the decoder's own words on what was refused, the images it carried, and the
        batch's size and time."""
        request_id = _header(context, index, "X-Request-ID")
        many = isinstance(result, list)
        answers = result if many else [result]
        line = {
            "request_id": request_id[:128] if request_id else None,
            "kind": kind,
            "error": None if many else result.get("error", {}).get("code"),
            "detail": (details or None) if many else next(iter(details), None),
            "images": len(answers),
            "refused": sum(1 for answer in answers if "error" in answer),
            "batch": batch,
            "handler_ms": handler_ms,
        }
        logger.info(json.dumps(line))

    @staticmethod
    def _wanted(context: Any, index: int) -> str:
        """What request ``index`` asks for: TorchServe marks explanations and customized descriptions
        with a header of that request's own; the gateway marks a multi-image request with its count."""
        if context.get_request_header(index, "describe") == "True":
            return "describe"
        if context.get_request_header(index, "explain") == "True":
            return "explain"
        if _header(context, index, COUNT_HEADER) is not None:
            return "classify_many"
        return "classify"

    def _prepare(self, entry: Any) -> tuple[np.ndarray, dict[str, float]] | Exception:
        """One image's input and timings, or what refused it: whatever it raised is its own failure."""
        try:
            t0 = time.perf_counter()
            image = self.decode(entry)
            t1 = time.perf_counter()
            array = self.transform(image)
        except ImageLimitError as refused:  # the eval transform's own bounds
            return ImageRejectedError.of(refused)
        except Exception as failed:  # refused alone (_refusal), never failing its batch
            return failed
        return array, {"decode": (t1 - t0) * 1000, "preprocess": (time.perf_counter() - t1) * 1000}

    def _refusal(self, index: int, failed: Exception) -> ImageRejectedError:
        """``failed`` as request ``index``'s refusal; one the decoder did not foresee is logged first, with
        its traceback, under the request's ID."""
        if isinstance(failed, ImageRejectedError):
            return failed
        request_id = _header(self.context, index, "X-Request-ID")
        logger.error(
            "request %s: preparing an image failed unforeseen", (request_id or "")[:128], exc_info=failed
        )
        return ImageRejectedError(
            422, "undecodable_image", "the image could not be decoded", f"{type(failed).__name__}: {failed}"
        )

    def describe(self) -> dict[str, Any]:
        """What the model is and what it learned from: the gateway's models view and the about panel."""
        return {
            "model": {**self.model_ref.model_dump(), "arch": self.meta["arch"]},
            "labels": [{"label": label, "name": self.names[label]} for label in self.labels],
            "preprocessing_version": self.preprocessing_version,
            "temperature": self.temperature,
            "unknown_threshold": self.threshold,
            "provenance": self.meta.get("provenance", {}),
            # what it answered on its test split: the gateway's drift signals compare with it
            "reference": self.meta.get("reference", {}),
            "model_card": self.card,
            "multi_image_requests": MAX_IMAGES,  # the gateway sends a batch's misses in one request
        }

    def _classify(self, inputs: list[Prepared], results: list[Any]) -> None:
        t0 = time.perf_counter()
        logits = self.infer(np.stack([array for _, array, _ in inputs]))
        t1 = time.perf_counter()
        answers = self.answer(logits)
        postprocess = (time.perf_counter() - t1) * 1000 / len(inputs)
        for (place, _, timings), result in zip(inputs, answers, strict=True):
            timings["inference"] = (t1 - t0) * 1000
            timings["postprocess"] = postprocess
            answered = HandlerClassification(
                **result,
                model=self.model_ref,
                preprocessing_version=self.preprocessing_version,
                timings_ms={k: round(v, 3) for k, v in timings.items()},
            )
            self._place(results, place, answered.model_dump())

    def _explain(self, inputs: list[Prepared], results: list[Any]) -> None:
        import torch  # imported by the first explanation, as is the model: most workers never need either

        from handler.gradcam import grad_cam
        from inference.architectures import architecture

        if self._explainer is None:
            self._explainer = self._eager_model(self.model_dir)
        layer = self._explainer.get_submodule(architecture(self.meta["arch"]).gradcam_layer)
        for (index, _), array, _ in inputs:  # explanations are single-image requests
            heatmap, top = grad_cam(self._explainer, layer, torch.from_numpy(array), HEATMAP_GRID)
            label = self.labels[top]
            results[index] = HandlerExplanation(
                label=label,
                name=self.names[label],
                rows=HEATMAP_GRID[0],
                cols=HEATMAP_GRID[1],
                heatmap=[[round(float(v), 4) for v in row] for row in heatmap],
                model=self.model_ref,
                preprocessing_version=self.preprocessing_version,
            ).model_dump()

    def _reject(self, index: int, rejected: ImageRejectedError, slot: int | None = None) -> dict[str, Any]:
        """The refusal's body; request ``index`` gets its status unless the image is one ``slot`` of a
        multi-image request, which answers 200 with the refusal in that image's place."""
        if slot is None:
            self.context.set_response_status(rejected.status, rejected.code.replace("_", " "), index)
        return rejected.body()


def _header(context: Any, index: int, name: str) -> str | None:
    """Request ``index``'s header ``name``, in whatever case it was sent."""
    headers = context.get_all_request_header(index) or {}
    return next((str(v) for k, v in headers.items() if k.lower() == name.lower()), None)
