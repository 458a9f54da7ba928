import { act, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { ReactNode } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/errors";
import { ModelsContext } from "../api/models";
import type { Answer, FeedbackRecord, ModelsView } from "../api/types";
import { Feedback } from "./Feedback";

vi.mock("../api/client", () => ({ sendFeedback: vi.fn() }));
const client = await import("../api/client");
const sendFeedback = vi.mocked(client.sendFeedback);

const sha = "c".repeat(64);
const shot = () => new File([new Uint8Array(16)], "shot.jpg", { type: "image/jpeg" });
const answer: Answer = {
  label: "dark_souls_3",
  name: "Dark Souls III",
  confidence: 0.71,
  top_k: [{ label: "dark_souls_3", name: "Dark Souls III", probability: 0.71 }],
  model: { name: "fromsoft", version: "1.0" },
};
// The served model's labels, as GET /api/v1/models lists them: the page never lists games of its own.
const view = {
  labels: [
    { label: "dark_souls_3", name: "Dark Souls III" },
    { label: "elden_ring", name: "Elden Ring" },
    { label: "sekiro", name: "Sekiro: Shadows Die Twice" },
  ],
} as ModelsView;

const recorded = (overrides: Partial<FeedbackRecord> = {}): FeedbackRecord => ({
  sha256: sha,
  verdict: "right",
  label: "dark_souls_3",
  shared: false,
  model: { name: "fromsoft", version: "1.0", digest: "5d41402abc4b" },
  updated: false,
  ...overrides,
});

function serving(children: ReactNode, served: ModelsView | null = view) {
  return <ModelsContext.Provider value={{ view: served, error: null }}>{children}</ModelsContext.Provider>;
}

beforeEach(() => sendFeedback.mockReset());
afterEach(() => vi.useRealTimers());

describe("was this right?", () => {
  it("offers Right, Not a game and the served model's other games, with the consent box off", () => {
    render(serving(<Feedback answer={answer} sha256={sha} file={shot()} />));
    expect(screen.getByRole("button", { name: "Right" })).toBeEnabled();
    expect(screen.getByRole("button", { name: "Not a game" })).toBeEnabled();
    const games = screen.getByRole("combobox", { name: "Wrong: it is" });
    expect([...games.querySelectorAll("option")].map((o) => o.textContent)).toEqual([
      "choose a game",
      "Elden Ring",
      "Sekiro: Shadows Die Twice",
    ]);
    expect(screen.getByRole("button", { name: "Send correction" })).toBeDisabled(); // no game chosen yet
    expect(screen.getByRole("checkbox", { name: "Share this screenshot to improve the model" })).not.toBeChecked();
  });

  it("sends Right with the file itself and no consent, then thanks the visitor and tells it on", async () => {
    sendFeedback.mockResolvedValue(recorded());
    const told = vi.fn();
    const file = shot();
    render(serving(<Feedback answer={answer} sha256={sha} file={file} onSent={told} />));
    await userEvent.click(screen.getByRole("button", { name: "Right" }));
    expect(sendFeedback).toHaveBeenCalledWith(file, sha, { verdict: "right", label: null, share: false });
    expect(await screen.findByTestId("feedback-thanks")).toHaveTextContent("Thank you: you said it was right.");
    expect(screen.queryByRole("button", { name: "Right" })).not.toBeInTheDocument();
    expect(told).toHaveBeenCalledWith(expect.objectContaining({ verdict: "right", label: "dark_souls_3", shared: false }));
  });

  it("sends the game chosen for Wrong, with the screenshot when the box is ticked", async () => {
    sendFeedback.mockResolvedValue(recorded({ verdict: "wrong", label: "elden_ring", shared: true }));
    const told = vi.fn();
    render(serving(<Feedback answer={answer} sha256={sha} file={shot()} onSent={told} />));
    await userEvent.selectOptions(screen.getByRole("combobox", { name: "Wrong: it is" }), "Elden Ring");
    await userEvent.click(screen.getByRole("checkbox", { name: "Share this screenshot to improve the model" }));
    await userEvent.click(screen.getByRole("button", { name: "Send correction" }));
    expect(sendFeedback.mock.calls[0][2]).toEqual({ verdict: "wrong", label: "elden_ring", share: true });
    const thanks = await screen.findByTestId("feedback-thanks");
    expect(thanks).toHaveTextContent("you said it is Elden Ring.");
    expect(thanks).toHaveTextContent("You shared the screenshot");
    expect(told).toHaveBeenCalledWith(expect.objectContaining({ verdict: "wrong", name: "Elden Ring", shared: true }));
  });

  it("lets the visitor change the vote, which the gateway updates", async () => {
    sendFeedback.mockResolvedValueOnce(recorded()).mockResolvedValueOnce(recorded({ verdict: "not_a_game", label: null, updated: true }));
    render(serving(<Feedback answer={answer} sha256={sha} file={shot()} />));
    await userEvent.click(screen.getByRole("button", { name: "Right" }));
    await userEvent.click(await screen.findByRole("button", { name: "Change my answer" }));
    await userEvent.click(screen.getByRole("button", { name: "Not a game" }));
    expect(await screen.findByTestId("feedback-thanks")).toHaveTextContent("Updated: you now say it is not a game.");
    expect(sendFeedback).toHaveBeenCalledTimes(2);
  });

  it("says feedback is unavailable while classification works, counts Retry-After down, and sends again", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const down = new ApiError("unavailable", "feedback cannot be recorded now (the database failed)", 503, "feedback_unavailable", 2);
    sendFeedback.mockRejectedValueOnce(down).mockResolvedValueOnce(recorded({ verdict: "not_a_game", label: null }));
    render(serving(<Feedback answer={answer} sha256={sha} file={shot()} />));
    await userEvent.click(screen.getByRole("button", { name: "Not a game" }));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("Feedback is unavailable right now; classification still works.");
    expect(alert).toHaveTextContent("You can try again in 2 s.");
    await act(async () => {
      vi.advanceTimersByTime(2500);
    });
    await userEvent.click(await screen.findByRole("button", { name: "Try again" }));
    expect(await screen.findByTestId("feedback-thanks")).toHaveTextContent("you said it is not a game");
    expect(sendFeedback.mock.calls[1][2]).toEqual({ verdict: "not_a_game", label: null, share: false });
  });

  it("waits for the served model's games before a correction can name one", () => {
    render(serving(<Feedback answer={answer} sha256={sha} file={shot()} />, null));
    const games = screen.getByRole("combobox", { name: "Wrong: it is" });
    expect(games).toBeDisabled();
    expect(games).toHaveTextContent("the games are loading…");
  });

  it("asks for the screenshot where the page holds none, and says when it is not the one answered", async () => {
    const wrongFile = new ApiError("invalid", "the file's SHA-256 is not the sha256 sent with it", 400, "hash_mismatch", null);
    sendFeedback.mockRejectedValueOnce(wrongFile).mockResolvedValueOnce(recorded());
    render(serving(<Feedback answer={answer} sha256={sha} file={null} />));
    expect(screen.queryByRole("button", { name: "Right" })).not.toBeInTheDocument();
    const other = shot();
    await userEvent.upload(screen.getByTestId("feedback-file"), other);
    await userEvent.click(screen.getByRole("button", { name: "Right" }));
    expect(sendFeedback).toHaveBeenCalledWith(other, sha, expect.objectContaining({ verdict: "right" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("That is not the screenshot this answer is for.");
    const mine = shot();
    await userEvent.upload(screen.getByTestId("feedback-file"), mine);
    await userEvent.click(screen.getByRole("button", { name: "Right" }));
    expect(sendFeedback).toHaveBeenLastCalledWith(mine, sha, expect.objectContaining({ verdict: "right" }));
    expect(await screen.findByTestId("feedback-thanks")).toBeInTheDocument();
  });

  it("shows what this browser sent before, and still lets the visitor change it", () => {
    const before = { verdict: "wrong" as const, label: "sekiro", name: "Sekiro: Shadows Die Twice", shared: false, at: "2026-12-06T10:00:00Z" };
    render(serving(<Feedback answer={answer} sha256={sha} file={null} sent={before} />));
    expect(screen.getByTestId("feedback-thanks")).toHaveTextContent("You said it is Sekiro: Shadows Die Twice.");
    expect(screen.getByRole("button", { name: "Change my answer" })).toBeInTheDocument();
  });
});
