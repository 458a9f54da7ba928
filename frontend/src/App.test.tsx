import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import App from "./App";
import { ApiError } from "./api/errors";
import type { Classification, ModelCard, ModelsView, Provenance } from "./api/types";
import { SYNTHETIC_WHY } from "./components/SyntheticNotice";

vi.mock("./api/client", () => ({
  classify: vi.fn(),
  classifyBatch: vi.fn(),
  explain: vi.fn(),
  models: vi.fn(),
  createShare: vi.fn(),
  sharedAnswer: vi.fn(),
  sendFeedback: vi.fn(),
}));
const client = await import("./api/client");
const classify = vi.mocked(client.classify);
const classifyBatch = vi.mocked(client.classifyBatch);
const models = vi.mocked(client.models);
const createShare = vi.mocked(client.createShare);
const sharedAnswer = vi.mocked(client.sharedAnswer);
const sendFeedback = vi.mocked(client.sendFeedback);

function view(provenance: Provenance): ModelsView {
  return {
    models: [{ name: "fromsoft", default_version: "1.0", versions: [] }],
    labels: [{ label: "sekiro", name: "Sekiro: Shadows Die Twice" }],
    provenance: { images: 2800, epochs: 3, test_macro_f1: 0.987, ...provenance },
    unknown_threshold: 0.9,
    arch: "efficientnet_lite0",
    max_upload_bytes: 5 * 1024 * 1024,
    batch_max_files: 16,
    batch_max_bytes: 20 * 1024 * 1024,
  };
}
const synthetic = view({ data_kind: "synthetic", synthetic_images: 2800, data_root: "synthetic frames (the embedded default)" });
const real = view({ data_kind: "real", synthetic_images: 0, data_root: "kaggle" });

const notRecognised: Classification = {
  label: "unknown",
  name: "Not recognised",
  confidence: 0.41,
  top_k: [{ label: "sekiro", name: "Sekiro: Shadows Die Twice", probability: 0.41 }],
  model: { name: "fromsoft", version: "1.0" },
  sha256: "ab",
  cached: false,
  timings_ms: { total: 30 },
};
const shot = () => new File([new Uint8Array(10)], "elden.jpg", { type: "image/jpeg" });

/** Resolves once the page has its models view (the about panel shows what the view says). */
async function loaded() {
  await userEvent.click(screen.getByRole("button", { name: "About the model" }));
  await screen.findByTestId("about");
}

beforeEach(() => {
  localStorage.clear();
  classify.mockReset();
  classify.mockReturnValue(new Promise(() => undefined));
  classifyBatch.mockReset();
  classifyBatch.mockReturnValue(new Promise(() => undefined));
  models.mockReset();
  models.mockResolvedValue(synthetic);
});

describe("the page", () => {
  it("queues several files as separate cards, sent together as one batch", async () => {
    render(<App />);
    await loaded();
    const files = ["a.jpg", "b.png", "c.webp"].map(
      (name, i) => new File([new Uint8Array(10)], name, { type: ["image/jpeg", "image/png", "image/webp"][i] }),
    );
    await userEvent.upload(screen.getByTestId("file-input"), files);
    expect(screen.getAllByRole("article")).toHaveLength(3);
    expect(screen.getAllByLabelText("Upload progress")).toHaveLength(3);
    expect(classifyBatch).toHaveBeenCalledTimes(1);
    expect(classifyBatch.mock.calls[0][0]).toEqual(files);
    expect(classify).not.toHaveBeenCalled();
  });

  it("gives each card of a batch its own answer, and a file refused alone its own words", async () => {
    const recognised = { ...notRecognised, label: "sekiro", name: "Sekiro: Shadows Die Twice", confidence: 0.97 };
    const refusal = { error: { code: "invalid_image", message: "the JPEG image is truncated or corrupt", request_id: "id-1" } };
    classifyBatch.mockResolvedValue({ results: [recognised, refusal] });
    render(<App />);
    await loaded();
    await userEvent.upload(screen.getByTestId("file-input"), [shot(), shot()]);
    const [first, second] = screen.getAllByRole("article"); // in the order dropped
    await waitFor(() => expect(first).toHaveTextContent("Sekiro: Shadows Die Twice"));
    expect(second).toHaveTextContent("the JPEG image is truncated or corrupt");
    expect(second).toHaveTextContent("id-1");
  });

  it("sends a lone file to /classify, and never a file it refused", async () => {
    render(<App />);
    await loaded();
    await userEvent.upload(screen.getByTestId("file-input"), [shot(), new File(["x"], "huge.png", { type: "image/png" }).slice(0, 0, "image/png") as File]);
    expect(classify).toHaveBeenCalledTimes(1);
    expect(classifyBatch).not.toHaveBeenCalled();
    expect(screen.getByRole("alert")).toHaveTextContent("is empty");
  });

  it("refuses a file over the stack's upload limit inline, without uploading", async () => {
    models.mockResolvedValue({ ...synthetic, max_upload_bytes: 5 * 1024 * 1024 });
    render(<App />);
    await loaded();
    const huge = new File([new Uint8Array(6 * 1024 * 1024)], "huge.png", { type: "image/png" });
    await userEvent.upload(screen.getByTestId("file-input"), huge);
    expect(screen.getByRole("alert")).toHaveTextContent("huge.png is 6 MB; the limit is 5 MB.");
    expect(classify).not.toHaveBeenCalled();
  });

  it("takes the limit the stack announces, not a constant of its own", async () => {
    models.mockResolvedValue({ ...synthetic, max_upload_bytes: 8 * 1024 * 1024 });
    render(<App />);
    await loaded();
    await userEvent.upload(screen.getByTestId("file-input"), new File([new Uint8Array(7 * 1024 * 1024)], "big.png", { type: "image/png" }));
    expect(classify).toHaveBeenCalledTimes(1);
  });

  it("opens the drop zone's file picker from the keyboard", async () => {
    render(<App />);
    const input = screen.getByTestId("file-input") as HTMLInputElement;
    const click = vi.spyOn(input, "click");
    screen.getByRole("button", { name: /Add screenshots/ }).focus();
    await userEvent.keyboard("{Enter}");
    expect(click).toHaveBeenCalled();
  });

  it("shows the model's provenance in the about panel", async () => {
    render(<App />);
    await loaded();
    expect(screen.getByTestId("about")).toHaveTextContent("efficientnet_lite0");
    expect(screen.getByTestId("about")).toHaveTextContent("Trained on 2800 images");
    expect(screen.getByTestId("about")).toHaveTextContent("Sekiro: Shadows Die Twice");
  });
});

describe("the models view", () => {
  it("is fetched once at load and shared by the notice, the cards and the about panel", async () => {
    classifyBatch.mockResolvedValue({ results: [notRecognised, { ...notRecognised, sha256: "cd" }] });
    render(<App />);
    await screen.findByTestId("synthetic-notice");
    await userEvent.upload(screen.getByTestId("file-input"), [shot(), shot()]);
    expect(await screen.findAllByTestId("why-not-recognised")).toHaveLength(2);
    await loaded();
    expect(models).toHaveBeenCalledTimes(1);
  });

  it("is asked again while the service warms up", async () => {
    models
      .mockRejectedValueOnce(new ApiError("unavailable", "warming up", 503, "model_unavailable", 0))
      .mockResolvedValueOnce(synthetic);
    render(<App />);
    expect(await screen.findByTestId("synthetic-notice")).toBeInTheDocument();
    expect(models).toHaveBeenCalledTimes(2);
  });
});

describe("a model trained on synthetic frames", () => {
  it("says so before anything is dropped, with how to train on the real data set", async () => {
    render(<App />);
    const notice = await screen.findByTestId("synthetic-notice");
    expect(notice).toHaveTextContent(SYNTHETIC_WHY);
    expect(notice).toHaveTextContent("DATA=data/kaggle RUN_DIR=runs/real make train-demo archive");
    expect(screen.queryAllByRole("article")).toHaveLength(0);
  });

  it("explains each Not recognised card in the notice's words, and not a recognised one", async () => {
    const recognised = { ...notRecognised, label: "sekiro", name: "Sekiro: Shadows Die Twice", confidence: 0.97 };
    classifyBatch.mockResolvedValue({ results: [notRecognised, recognised] });
    render(<App />);
    await screen.findByTestId("synthetic-notice");
    await userEvent.upload(screen.getByTestId("file-input"), [shot(), shot()]);
    await waitFor(() => expect(screen.getAllByTestId("verdict")).toHaveLength(2));
    const why = screen.getAllByTestId("why-not-recognised");
    expect(why).toHaveLength(1);
    expect(why[0]).toHaveTextContent(SYNTHETIC_WHY);
    expect(why[0].closest("article")).toHaveTextContent("Not recognised");
  });
});

describe.each([
  ["real data", real],
  ["mixed data", view({ data_kind: "mixed", synthetic_images: 100, images: 5000 })],
  ["nothing of its data's kind (an older archive)", view({ data_root: "kaggle" })],
])("a model whose provenance says %s", (_, served) => {
  it("shows no synthetic-frames notice, on the page or on a Not recognised card", async () => {
    models.mockResolvedValue(served);
    classify.mockResolvedValue(notRecognised);
    render(<App />);
    await loaded();
    await userEvent.upload(screen.getByTestId("file-input"), shot());
    expect(await screen.findByTestId("verdict")).toHaveTextContent("Not recognised");
    expect(screen.queryByTestId("synthetic-notice")).not.toBeInTheDocument();
    expect(screen.queryByTestId("why-not-recognised")).not.toBeInTheDocument();
  });
});

describe("the history", () => {
  it("keeps each answer in this browser across a reload, and Clear empties it", async () => {
    classify.mockResolvedValue({ ...notRecognised, label: "sekiro", name: "Sekiro: Shadows Die Twice", confidence: 0.97 });
    const { unmount } = render(<App />);
    await userEvent.upload(screen.getByTestId("file-input"), shot());
    await waitFor(() => expect(screen.getByTestId("history")).toHaveTextContent("Sekiro: Shadows Die Twice"));
    expect(screen.getByTestId("history").querySelector("a")).toBeNull(); // not shared: no page to link to
    unmount();
    render(<App />); // a reload: the page starts again from storage
    expect(screen.getByTestId("history")).toHaveTextContent("97.0%");
    expect(screen.queryAllByRole("article")).toHaveLength(0);
    await userEvent.click(screen.getByRole("button", { name: "Clear" }));
    expect(screen.getByTestId("history")).toHaveTextContent("Nothing yet.");
    expect(JSON.parse(localStorage.getItem("fromsoft-lens:history") ?? "null")).toEqual([]);
  });
});

describe("feedback on a card", () => {
  it("goes with the card's file, and its history entry says what was sent, across a reload", async () => {
    const sekiro = { ...notRecognised, label: "sekiro", name: "Sekiro: Shadows Die Twice", confidence: 0.97, sha256: "e".repeat(64) };
    models.mockResolvedValue({ ...synthetic, labels: [...synthetic.labels, { label: "elden_ring", name: "Elden Ring" }] });
    classify.mockResolvedValue(sekiro);
    sendFeedback.mockResolvedValue({
      sha256: sekiro.sha256,
      verdict: "wrong",
      label: "elden_ring",
      shared: true,
      model: { name: "fromsoft", version: "1.0", digest: "5d41402abc4b" },
      updated: false,
    });
    const file = shot();
    const { unmount } = render(<App />);
    await loaded();
    await userEvent.upload(screen.getByTestId("file-input"), file);
    await userEvent.selectOptions(await screen.findByRole("combobox", { name: "Wrong: it is" }), "Elden Ring");
    await userEvent.click(screen.getByRole("checkbox", { name: "Share this screenshot to improve the model" }));
    await userEvent.click(screen.getByRole("button", { name: "Send correction" }));
    expect(sendFeedback).toHaveBeenCalledWith(file, sekiro.sha256, { verdict: "wrong", label: "elden_ring", share: true });
    await waitFor(() => expect(screen.getByTestId("history-feedback")).toHaveTextContent("You said it is Elden Ring · screenshot shared"));
    unmount();
    render(<App />);
    expect(screen.getByTestId("history-feedback")).toHaveTextContent("You said it is Elden Ring · screenshot shared");
  });
});

describe("a share link made on a card", () => {
  it("links its history entry to the share's page, across a reload", async () => {
    Object.defineProperty(navigator, "clipboard", { value: { writeText: vi.fn().mockResolvedValue(undefined) }, configurable: true });
    classify.mockResolvedValue({ ...notRecognised, label: "sekiro", name: "Sekiro: Shadows Die Twice", confidence: 0.97 });
    createShare.mockResolvedValue({ id: "Qx7_b-3kLm9Zp0aTw2Yc4d", url: "/s/Qx7_b-3kLm9Zp0aTw2Yc4d", expires_at: "2026-12-07T10:00:00Z" });
    const { unmount } = render(<App />);
    await userEvent.upload(screen.getByTestId("file-input"), shot());
    await waitFor(() => expect(screen.getByTestId("history")).toHaveTextContent("Sekiro: Shadows Die Twice"));
    await userEvent.click(await screen.findByRole("button", { name: "Copy link" }));
    await waitFor(() => expect(screen.getByTestId("history").querySelector("a")).toHaveAttribute("href", "/s/Qx7_b-3kLm9Zp0aTw2Yc4d"));
    unmount();
    render(<App />);
    expect(screen.getByTestId("history").querySelector("a")).toHaveAttribute("href", "/s/Qx7_b-3kLm9Zp0aTw2Yc4d");
  });
});

describe.each([
  ["/s/Qx7_b-3kLm9Zp0aTw2Yc4d", "a share's page, which reads the share by its id", true],
  [`/r/${"ab".repeat(32)}`, "a retired link's page, which asks the gateway nothing", false],
])("the path %s", (path, what, reads) => {
  afterEach(() => window.history.pushState({}, "", "/"));

  it(`is ${what}`, async () => {
    sharedAnswer.mockReset();
    sharedAnswer.mockReturnValue(new Promise(() => undefined));
    window.history.pushState({}, "", path);
    render(<App />);
    expect(screen.queryByTestId("file-input")).not.toBeInTheDocument();
    if (reads) {
      expect(sharedAnswer).toHaveBeenCalledWith("Qx7_b-3kLm9Zp0aTw2Yc4d");
      expect(await screen.findByText("Reading the answer…")).toBeInTheDocument();
    } else {
      expect(screen.getByTestId("retired-link")).toBeInTheDocument();
      expect(sharedAnswer).not.toHaveBeenCalled();
    }
  });
});

describe("the about panel", () => {
  it("says when a version is being tried in the default's shadow, and how far it agrees", async () => {
    const canary = {
      version: "2.0",
      share: 0.1,
      figures: { comparisons: 57, agreement: 0.965, errors: 0, skipped: 3, default_unknown_share: 0.1, candidate_unknown_share: 0.12 },
    };
    models.mockResolvedValue({ ...synthetic, models: [{ ...synthetic.models[0], canary }] });
    render(<App />);
    await loaded();
    expect(screen.getByTestId("canary")).toHaveTextContent(
      "Version 2.0 is being tried on 10% of new images, behind the scenes: it agrees with the served version on 96.5% of 57 images so far",
    );
  });

  it("shows the served model's card: per class, the threshold, the outside set and the limitations", async () => {
    const card: ModelCard = {
      name: "fromsoft",
      version: "1.0",
      arch: "efficientnet_lite0",
      form: "onnx-int8",
      intended_use: "Say which of seven FromSoftware games a screenshot comes from.",
      data: { kind: "synthetic", source: "synthetic", images: 2800, synthetic_images: 2800 },
      test: {
        images: 280,
        accuracy: 0.99,
        macro_f1: 0.987,
        per_class: { sekiro: { name: "Sekiro: Shadows Die Twice", precision: 1, recall: 0.95, f1: 0.974, support: 20 } },
      },
      calibration: { temperature: 1.7, ece_before: 0.08, ece_after: 0.01 },
      unknown: { threshold: 0.62, coverage: 0.97, accuracy_above: 0.99 },
      external: {
        set: "screenshots",
        images: 118,
        accuracy: 0.373,
        macro_f1: 0.165,
        not_recognised_rate: 0.975,
        named_correctly: 0.025,
        borders: { cut: 1, figures: { "on a 21:9 screen, kept": { accuracy: 0.2, macro_f1: 0.1, not_recognised_rate: 0.99, named_correctly: 0 } } },
      },
      limitations: ["It learned from synthetic frames only."],
    };
    models.mockResolvedValue({ ...synthetic, model_card: card });
    render(<App />);
    await loaded();
    const shown = screen.getByTestId("model-card");
    expect(shown).toHaveTextContent("Model card: fromsoft 1.0");
    expect(shown).toHaveTextContent("0.974");
    expect(shown).toHaveTextContent("Under 62.0% calibrated confidence");
    expect(shown).toHaveTextContent("On 118 screenshots from outside its data (screenshots)");
    expect(shown).toHaveTextContent("on a 21:9 screen, kept");
    expect(screen.getByRole("list", { name: "Limitations" })).toHaveTextContent("synthetic frames only");
  });
});
