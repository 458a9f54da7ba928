import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/errors";
import type { SharedAnswer } from "../api/types";
import { RetiredLink, SharedResult } from "./SharedResult";

vi.mock("../api/client", () => ({ sharedAnswer: vi.fn(), createShare: vi.fn() }));
const client = await import("../api/client");
const sharedAnswer = vi.mocked(client.sharedAnswer);
const createShare = vi.mocked(client.createShare);

const id = "Qx7_b-3kLm9Zp0aTw2Yc4d";
const answer: SharedAnswer = {
  label: "elden_ring",
  name: "Elden Ring",
  confidence: 0.93,
  top_k: [{ label: "elden_ring", name: "Elden Ring", probability: 0.93 }],
  model: { name: "fromsoft", version: "1.0" },
  expires_at: "2026-12-07T10:00:00Z",
};
const kept = { sha256: "a".repeat(64), label: "elden_ring", name: "Elden Ring", confidence: 0.93, at: "2026-12-06T10:00:00Z" };

beforeEach(() => {
  sharedAnswer.mockReset();
  createShare.mockReset();
});

describe("a share link's page", () => {
  it("shows the shared answer and how long it is kept, and copies its own link without making another", async () => {
    const writeText = vi.fn().mockResolvedValue(undefined);
    Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
    sharedAnswer.mockResolvedValue(answer);
    render(<SharedResult id={id} history={[]} />);
    expect(await screen.findByTestId("verdict")).toHaveTextContent("Elden Ring");
    expect(sharedAnswer).toHaveBeenCalledWith(id);
    expect(screen.getByText(/kept until/)).toHaveTextContent(new Date(answer.expires_at).toLocaleString());
    expect(screen.queryByRole("img")).not.toBeInTheDocument(); // images are never stored
    await userEvent.click(screen.getByRole("button", { name: "Copy link" }));
    expect(writeText).toHaveBeenCalledWith(`${window.location.origin}/s/${id}`);
    expect(createShare).not.toHaveBeenCalled();
  });

  it("shows the sharer's own thumbnail when its history made this share", async () => {
    sharedAnswer.mockResolvedValue(answer);
    const entries = [
      { ...kept, thumbnail: "data:image/jpeg;base64,AAAA", share: id },
      { ...kept, sha256: "b".repeat(64), thumbnail: "data:image/jpeg;base64,BBBB" },
    ];
    render(<SharedResult id={id} history={entries} />);
    expect(await screen.findByRole("img")).toHaveAttribute("src", "data:image/jpeg;base64,AAAA");
  });

  it("says plainly when the answer is no longer kept", async () => {
    sharedAnswer.mockRejectedValue(new ApiError("unknown", "no such share", 404, "not_found", null));
    render(<SharedResult id={id} history={[]} />);
    expect(await screen.findByTestId("shared-gone")).toHaveTextContent("no longer kept");
  });
});

describe("a share link of the older kind (/r/<sha256>)", () => {
  it("says it is retired and asks for nothing", () => {
    render(<RetiredLink />);
    expect(screen.getByTestId("retired-link")).toHaveTextContent("no longer served");
    expect(sharedAnswer).not.toHaveBeenCalled();
  });
});
