import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/errors";
import type { SharedAnswer } from "../api/types";
import { RetiredLink, SharedResult } from "./SharedResult";

vi.mock("../api/client", () => ({ sharedAnswer: vi.fn(), createShare: vi.fn(), sendFeedback: vi.fn() }));
const client = await import("../api/client");
const sharedAnswer = vi.mocked(client.sharedAnswer);
const createShare = vi.mocked(client.createShare);
const sendFeedback = vi.mocked(client.sendFeedback);

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
  sendFeedback.mockReset();
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

  it("offers a stranger no feedback buttons, and says why: the vote needs the screenshot", async () => {
    sharedAnswer.mockResolvedValue(answer);
    render(<SharedResult id={id} history={[{ ...kept, thumbnail: null }]} />); // their history, another image
    expect(await screen.findByTestId("feedback-needs-file")).toHaveTextContent("Whoever holds the screenshot");
    expect(screen.queryByRole("button", { name: "Right" })).not.toBeInTheDocument();
    expect(screen.queryByTestId("feedback-file")).not.toBeInTheDocument();
  });

  it("lets the sharer vote with the screenshot picked again, by the hash their history holds", async () => {
    sharedAnswer.mockResolvedValue(answer);
    sendFeedback.mockResolvedValue({
      sha256: kept.sha256,
      verdict: "not_a_game",
      label: null,
      shared: false,
      model: { name: "fromsoft", version: "1.0", digest: "5d41402abc4b" },
      updated: false,
    });
    const told = vi.fn();
    render(<SharedResult id={id} history={[{ ...kept, thumbnail: null, share: id }]} onFeedback={told} />);
    const file = new File([new Uint8Array(8)], "mine.jpg", { type: "image/jpeg" });
    await userEvent.upload(await screen.findByTestId("feedback-file"), file);
    await userEvent.click(screen.getByRole("button", { name: "Not a game" }));
    expect(sendFeedback).toHaveBeenCalledWith(file, kept.sha256, { verdict: "not_a_game", label: null, share: false });
    expect(await screen.findByTestId("feedback-thanks")).toHaveTextContent("you said it is not a game");
    expect(told).toHaveBeenCalledWith(kept.sha256, expect.objectContaining({ verdict: "not_a_game" }));
    expect(screen.queryByTestId("feedback-needs-file")).not.toBeInTheDocument();
  });

  it("shows the sharer what they said before", async () => {
    sharedAnswer.mockResolvedValue(answer);
    const feedback = { verdict: "right" as const, label: "elden_ring", name: "Elden Ring", shared: true, at: "2026-12-06T10:01:00Z" };
    render(<SharedResult id={id} history={[{ ...kept, thumbnail: null, share: id, feedback }]} />);
    expect(await screen.findByTestId("feedback-thanks")).toHaveTextContent("You said it was right. You shared the screenshot");
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
