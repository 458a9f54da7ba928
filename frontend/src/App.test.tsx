import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import App from "./App";

vi.mock("./api/client", () => ({
  classify: vi.fn(() => new Promise(() => undefined)),
  explain: vi.fn(),
  models: vi.fn(async () => ({
    models: [{ name: "fromsoft", default_version: "1.0", versions: [] }],
    labels: [{ label: "sekiro", name: "Sekiro: Shadows Die Twice" }],
    provenance: { images: 2800, epochs: 3, data_root: "synthetic", test_macro_f1: 0.987 },
    unknown_threshold: 0.9,
    arch: "efficientnet_lite0",
  })),
}));

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
    await userEvent.click(screen.getByRole("button", { name: "About the model" }));
    expect(await screen.findByTestId("about")).toHaveTextContent("efficientnet_lite0");
    expect(screen.getByTestId("about")).toHaveTextContent("Trained on 2800 images");
    expect(screen.getByTestId("about")).toHaveTextContent("Sekiro: Shadows Die Twice");
  });
});
