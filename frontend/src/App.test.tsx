import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import App from "./App";
import { ApiError } from "./api/errors";
import type { Classification, ModelsView, Provenance } from "./api/types";
import { SYNTHETIC_WHY } from "./components/SyntheticNotice";

vi.mock("./api/client", () => ({ classify: vi.fn(), explain: vi.fn(), models: vi.fn() }));
const client = await import("./api/client");
const classify = vi.mocked(client.classify);
const models = vi.mocked(client.models);

function view(provenance: Provenance): ModelsView {
  return {
    models: [{ name: "fromsoft", default_version: "1.0", versions: [] }],
    labels: [{ label: "sekiro", name: "Sekiro: Shadows Die Twice" }],
    provenance: { images: 2800, epochs: 3, test_macro_f1: 0.987, ...provenance },
    unknown_threshold: 0.9,
    arch: "efficientnet_lite0",
    max_upload_bytes: 5 * 1024 * 1024,
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
  classify.mockReset();
  classify.mockReturnValue(new Promise(() => undefined));
  models.mockReset();
  models.mockResolvedValue(synthetic);
});

describe("the page", () => {
  it("queues several files as separate cards", async () => {
    render(<App />);
    const files = ["a.jpg", "b.png", "c.webp"].map(
      (name, i) => new File([new Uint8Array(10)], name, { type: ["image/jpeg", "image/png", "image/webp"][i] }),
    );
    await userEvent.upload(screen.getByTestId("file-input"), files);
    expect(screen.getAllByRole("article")).toHaveLength(3);
    expect(screen.getAllByLabelText("Upload progress")).toHaveLength(3);
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
    classify.mockResolvedValue(notRecognised);
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
    classify.mockResolvedValueOnce(notRecognised).mockResolvedValueOnce({
      ...notRecognised,
      label: "sekiro",
      name: "Sekiro: Shadows Die Twice",
      confidence: 0.97,
    });
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
