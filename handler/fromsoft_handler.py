"""TorchServe handler: which FromSoftware game is this screenshot from?

decode -> validate -> preprocess -> infer -> postprocess, each a plain function in this package, so
that tests call them without the Java server. One bad image in a batch gets its own 4xx status and
JSON error while its neighbours succeed. TorchServe allows one class per handler module: this is it.

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
from typing import Any

import numpy as np
import torch
from PIL import Image
from ts.torch_handler.base_handler import BaseHandler

from handler.gradcam import grad_cam
from handler.image_decode import ImageRejectedError, decode_image, payload_bytes
from handler.settings import ServingSettings
from inference.architectures import architecture
from inference.archive_digest import digest_of_folder
from inference.preprocessing import Preprocessing, eval_transform
from inference.runtime import OnnxRunner, Runner, TorchRunner, load_eager, load_torchscript
from inference.scoring import answer, calibrated

logger = logging.getLogger(__name__)
HEATMAP_GRID = (9, 16)  # rows, cols: 16:9 like the frames
Prepared = tuple[int, np.ndarray, dict[str, float]]  # index in the batch, input (3, H, W), timings


class FromSoftHandler(BaseHandler):  # type: ignore[misc]
    def initialize(self, context: Any) -> None:
        self.context = context
        self.manifest = context.manifest
        properties = context.system_properties
        model_dir = Path(properties["model_dir"])
        self.meta = json.loads((model_dir / "model_meta.json").read_text())
        config = getattr(context, "model_yaml_config", None) or {}
        self.settings = ServingSettings.load(config.get("handler", {}) if isinstance(config, dict) else {})
        threads = self.settings.threads
        torch.set_num_threads(threads)  # workers x threads should match the cores (config.properties)
        Image.MAX_IMAGE_PIXELS = self.settings.max_pixels
        self.pre = Preprocessing.from_dict(self.meta["preprocessing"])
        self.labels: list[str] = self.meta["labels"]
        self.names: dict[str, str] = self.meta["display_names"]
        self.temperature = float(self.meta["temperature"])
        self.threshold = float(self.meta["unknown_threshold"])
        self.model_info = {
            "name": self.manifest["model"]["modelName"],
            "version": self.manifest["model"]["modelVersion"],
            "arch": self.meta["arch"],
            # what answered, beside its name and version: a re-exported archive keys the cache anew
            "digest": digest_of_folder(model_dir),
        }
        self.preprocessing_version = self.pre.version
        self.runner: Runner = self._load_runner(model_dir, self.meta["form"], threads)
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="decode")
        self._explainer: torch.nn.Module | None = None
        self.model_dir = model_dir
        self.initialized = True
        logger.info(
            "fromsoft handler ready: %s form=%s %s", self.model_info, self.meta["form"], self.settings
        )

    def _load_runner(self, model_dir: Path, form: str, threads: int) -> Runner:
        serialized = model_dir / self.manifest["model"]["serializedFile"]
        if form in ("onnx", "onnx-int8"):
            return OnnxRunner(serialized, threads, self.settings.spin_wait)
        if form == "torchscript":
            return load_torchscript(serialized)
        return TorchRunner(self._eager_model(model_dir))

    def _eager_model(self, model_dir: Path) -> torch.nn.Module:
        return load_eager(model_dir / "weights.pt", self.meta["arch"], len(self.labels))

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
        (TorchServe batches classifications, explanations and descriptions from different clients
        together): each is answered as it asked, and a bad image fails alone."""
        self.context = context
        started = time.perf_counter()
        results: list[Any] = [None] * len(data)
        wanted = [self._wanted(context, index) for index in range(len(data))]
        images = {index: data[index] for index, want in enumerate(wanted) if want != "describe"}
        for index in set(range(len(data))) - images.keys():  # GET /models/<name>?customized=true
            results[index] = self.describe()
        prepared: dict[str, list[Prepared]] = {"classify": [], "explain": []}
        # Pillow releases the GIL while decoding and resizing: a batch's images are prepared in parallel;
        # a single image here, without a hop to another thread.
        outcomes = (
            self.pool.map(self._prepare, images.values())
            if len(images) > 1
            else map(self._prepare, images.values())
        )
        details: dict[int, str | None] = {}  # a refused image's decoder error: for the log only
        for index, outcome in zip(images, outcomes, strict=True):
            if isinstance(outcome, ImageRejectedError):
                results[index] = self._reject(index, outcome)
                details[index] = outcome.detail
            else:
                prepared[wanted[index]].append((index, *outcome))
        if prepared["classify"]:
            self._classify(prepared["classify"], results)
        if prepared["explain"]:
            self._explain(prepared["explain"], results)
        for index in range(len(data)):
            context.set_response_content_type(index, "application/json")
        handler_ms = round((time.perf_counter() - started) * 1000, 2)
        context.metrics.add_time("HandlerTime", handler_ms, None, "ms")
        for index in images:
            detail = details.get(index)
            self._log(context, index, wanted[index], results[index], handler_ms, len(data), detail)
        return [json.dumps(result) for result in results]

    @staticmethod
    def _log(
        context: Any,
        index: int,
        kind: str,
        result: dict[str, Any],
        handler_ms: float,
        batch: int,
        detail: str | None = None,
    ) -> None:
        """Request ``index``'s line: its ID (the header in whatever case it was sent), what it asked for,
        its error code and the decoder's own words if refused, and the batch's size and time."""
        headers = context.get_all_request_header(index) or {}
        request_id = next((str(v)[:128] for k, v in headers.items() if k.lower() == "x-request-id"), None)
        error = result.get("error", {}).get("code")
        line = {
            "request_id": request_id,
            "kind": kind,
            "error": error,
            "detail": detail,
            "batch": batch,
            "handler_ms": handler_ms,
        }
        logger.info(json.dumps(line))

    @staticmethod
    def _wanted(context: Any, index: int) -> str:
        """What request ``index`` asks for: TorchServe marks explanations and customized descriptions
        with a header of that request's own."""
        if context.get_request_header(index, "describe") == "True":
            return "describe"
        if context.get_request_header(index, "explain") == "True":
            return "explain"
        return "classify"

    def _prepare(self, entry: Any) -> tuple[np.ndarray, dict[str, float]] | ImageRejectedError:
        try:
            t0 = time.perf_counter()
            image = self.decode(entry)
            t1 = time.perf_counter()
            array = self.transform(image)
        except ImageRejectedError as rejected:
            return rejected
        return array, {"decode": (t1 - t0) * 1000, "preprocess": (time.perf_counter() - t1) * 1000}

    def describe(self) -> dict[str, Any]:
        """What the model is and what it learned from: the gateway's models view and the about panel."""
        return {
            "model": self.model_info,
            "labels": [{"label": label, "name": self.names[label]} for label in self.labels],
            "preprocessing_version": self.preprocessing_version,
            "temperature": self.temperature,
            "unknown_threshold": self.threshold,
            "provenance": self.meta.get("provenance", {}),
        }

    def _classify(self, inputs: list[Prepared], results: list[Any]) -> None:
        t0 = time.perf_counter()
        logits = self.infer(np.stack([array for _, array, _ in inputs]))
        t1 = time.perf_counter()
        answers = self.answer(logits)
        postprocess = (time.perf_counter() - t1) * 1000 / len(inputs)
        for (index, _, timings), result in zip(inputs, answers, strict=True):
            timings["inference"] = (t1 - t0) * 1000
            timings["postprocess"] = postprocess
            results[index] = {
                **result,
                "model": self.model_info,
                "preprocessing_version": self.preprocessing_version,
                "timings_ms": {k: round(v, 3) for k, v in timings.items()},
            }

    def _explain(self, inputs: list[Prepared], results: list[Any]) -> None:
        if self._explainer is None:  # loaded on the first explanation: most workers never need it
            self._explainer = self._eager_model(self.model_dir)
        layer = self._explainer.get_submodule(architecture(self.meta["arch"]).gradcam_layer)
        for index, array, _ in inputs:
            heatmap, top = grad_cam(self._explainer, layer, torch.from_numpy(array), HEATMAP_GRID)
            label = self.labels[top]
            results[index] = {
                "label": label,
                "name": self.names[label],
                "rows": HEATMAP_GRID[0],
                "cols": HEATMAP_GRID[1],
                "heatmap": [[round(float(v), 4) for v in row] for row in heatmap],
                "model": self.model_info,
                "preprocessing_version": self.preprocessing_version,
            }

    def _reject(self, index: int, rejected: ImageRejectedError) -> dict[str, Any]:
        self.context.set_response_status(rejected.status, rejected.code.replace("_", " "), index)
        return rejected.body()
