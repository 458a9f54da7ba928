import { act, render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/errors";
import type { Classification } from "../api/types";
import { ShotCard } from "./ShotCard";

vi.mock("../api/client", () => ({ classify: vi.fn(), createShare: vi.fn(), explain: vi.fn(), models: vi.fn(), sendFeedback: vi.fn() }));
const client = await import("../api/client");
const classify = vi.mocked(client.classify);
const createShare = vi.mocked(client.createShare);
const explain = vi.mocked(client.explain);
const sendFeedback = vi.mocked(client.sendFeedback);

const shot = () => new File([new Uint8Array(2048)], "elden.jpg", { type: "image/jpeg" });

function answer(overrides: Partial<Classification> = {}): Classification {
  return {
    label: "elden_ring",
    name: "Elden Ring",
    confidence: 0.912,
    top_k: [
      { label: "elden_ring", name: "Elden Ring", probability: 0.912 },
      { label: "dark_souls_3", name: "Dark Souls III", probability: 0.05 },
      { label: "sekiro", name: "Sekiro: Shadows Die Twice", probability: 0.02 },
    ],
    model: { name: "fromsoft", version: "1.0" },
    sha256: "ab",
    cached: false,
    timings_ms: { total: 31.4 },
    ...overrides,
  };
}


const failing = (kind: ApiError["kind"], status: number, retryAfter: number | null = null) =>
  new ApiError(kind, "gateway says no", status, "code", retryAfter);

const made = (id: string) => ({ id, url: `/s/${id}`, expires_at: "2026-12-07T10:00:00Z" });

beforeEach(() => {
  classify.mockReset();
  createShare.mockReset();
  explain.mockReset();
  sendFeedback.mockReset();
});
afterEach(() => vi.useRealTimers());

describe("a screenshot's card", () => {
  it("shows the verdict, confidence, bars, latency and model", async () => {
    classify.mockResolvedValue(answer());
    render(<ShotCard file={shot()} />);
    expect(await screen.findByTestId("verdict")).toHaveTextContent("Elden Ring");
    expect(screen.getByText("91.2% confident")).toBeInTheDocument();
    expect(screen.getAllByRole("meter")).toHaveLength(3);
    expect(screen.getByText("5.0%")).toBeInTheDocument();
    expect(screen.getByText(/fromsoft v1.0 · 31 ms/)).toBeInTheDocument();
    expect(screen.queryByTestId("cached")).not.toBeInTheDocument();
  });

  it("marks an answer that came from the cache", async () => {
    classify.mockResolvedValue(answer({ cached: true }));
    render(<ShotCard file={shot()} />);
    expect(await screen.findByTestId("cached")).toHaveTextContent("from cache");
  });

  it("says Not recognised when the model answers unknown", async () => {
    classify.mockResolvedValue(answer({ label: "unknown", name: "Not recognised", confidence: 0.41 }));
    render(<ShotCard file={shot()} />);
    expect(await screen.findByTestId("verdict")).toHaveTextContent("Not recognised");
    expect(screen.getByText(/best guess 41.0%/)).toBeInTheDocument();
  });

  it("shows why the page refused a file, without uploading it", () => {
    render(<ShotCard file={new File(["gif"], "anim.gif", { type: "image/gif" })} rejection="anim.gif is not a JPEG, PNG or WebP image." />);
    expect(screen.getByRole("alert")).toHaveTextContent("anim.gif is not a JPEG, PNG or WebP image.");
    expect(classify).not.toHaveBeenCalled();
  });

  it("takes its answer from the request it was sent in, and tells it on", async () => {
    const told = vi.fn();
    render(<ShotCard file={shot()} submit={() => Promise.resolve(answer({ cached: true }))} onResult={told} />);
    expect(await screen.findByTestId("verdict")).toHaveTextContent("Elden Ring");
    expect(told).toHaveBeenCalledWith(expect.objectContaining({ sha256: "ab", cached: true }));
    expect(classify).not.toHaveBeenCalled();
  });

  it("sends a file again alone when a batch it was in failed", async () => {
    classify.mockResolvedValue(answer());
    const submit = () => Promise.reject(new ApiError("unavailable", "busy", 503, "overloaded", 0));
    render(<ShotCard file={shot()} submit={submit} />);
    await userEvent.click(await screen.findByRole("button", { name: "Try again" }));
    expect(await screen.findByTestId("verdict")).toHaveTextContent("Elden Ring");
    expect(classify).toHaveBeenCalledTimes(1);
  });

  it("makes its share link from the file on the first click only, and copies it", async () => {
    const writeText = vi.fn().mockResolvedValue(undefined);
    Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
    classify.mockResolvedValue(answer({ sha256: "f".repeat(64) }));
    createShare.mockResolvedValue(made("Qx7_b-3kLm9Zp0aTw2Yc4d"));
    const shared = vi.fn();
    const file = shot();
    render(<ShotCard file={file} onShared={shared} />);
    await userEvent.click(await screen.findByRole("button", { name: "Copy link" }));
    expect(createShare).toHaveBeenCalledWith(file, 3); // the games the card shows
    expect(writeText).toHaveBeenCalledWith(`${window.location.origin}/s/Qx7_b-3kLm9Zp0aTw2Yc4d`);
    expect(await screen.findByText("Link copied")).toBeInTheDocument();
    expect(shared).toHaveBeenCalledWith(expect.objectContaining({ sha256: "f".repeat(64) }), made("Qx7_b-3kLm9Zp0aTw2Yc4d"));
    await userEvent.click(screen.getByRole("button", { name: "Copy link" }));
    expect(createShare).toHaveBeenCalledTimes(1);
    expect(writeText).toHaveBeenCalledTimes(2);
    expect(screen.queryByRole("button", { name: "Share" })).not.toBeInTheDocument(); // jsdom has no Web Share
  });

  it("says why a share link could not be made, and tries again when asked", async () => {
    Object.defineProperty(navigator, "clipboard", { value: { writeText: vi.fn().mockResolvedValue(undefined) }, configurable: true });
    classify.mockResolvedValue(answer());
    createShare.mockRejectedValueOnce(new ApiError("unavailable", "share links are unavailable for a moment", 503, "shares_unavailable", null));
    createShare.mockResolvedValueOnce(made("Qx7_b-3kLm9Zp0aTw2Yc4d"));
    render(<ShotCard file={shot()} />);
    await userEvent.click(await screen.findByRole("button", { name: "Copy link" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("share links are unavailable for a moment");
    await userEvent.click(screen.getByRole("button", { name: "Try again" }));
    expect(await screen.findByText("Link copied")).toBeInTheDocument();
    expect(createShare).toHaveBeenCalledTimes(2);
  });

  it("hands the link to the share sheet where there is one, and shows it when the sheet refuses", async () => {
    const share = vi.fn().mockRejectedValue(new DOMException("no user activation", "NotAllowedError"));
    Object.defineProperty(navigator, "share", { value: share, configurable: true });
    classify.mockResolvedValue(answer());
    createShare.mockResolvedValue(made("Qx7_b-3kLm9Zp0aTw2Yc4d"));
    render(<ShotCard file={shot()} />);
    await userEvent.click(await screen.findByRole("button", { name: "Share" }));
    expect(share).toHaveBeenCalledWith(expect.objectContaining({ url: `${window.location.origin}/s/Qx7_b-3kLm9Zp0aTw2Yc4d` }));
    expect(await screen.findByLabelText("Share link")).toHaveValue(`${window.location.origin}/s/Qx7_b-3kLm9Zp0aTw2Yc4d`);
    Reflect.deleteProperty(navigator, "share");
  });

  it("shows the reference of a failed upload, so that a visitor can report it", async () => {
    classify.mockRejectedValue(new ApiError("invalid", "bad image", 400, "invalid_image", null, "0f1e2d3c4b5a69788796a5b4c3d2e1f0"));
    render(<ShotCard file={shot()} />);
    expect(await screen.findByTestId("request-id")).toHaveTextContent("0f1e2d3c4b5a69788796a5b4c3d2e1f0");
  });

  it("leaves the size to the gateway while the limit is not known yet", async () => {
    classify.mockRejectedValue(failing("too_large", 413));
    render(<ShotCard file={new File([new Uint8Array(6 * 1024 * 1024)], "huge.png", { type: "image/png" })} />);
    expect(await screen.findByRole("alert")).toHaveTextContent("That file is too large");
    expect(classify).toHaveBeenCalledTimes(1);
  });

  it.each([
    ["too_large", 413, "That file is too large"],
    ["unsupported", 415, "not an image we accept"],
    ["unavailable", 503, "warming up or down"],
    ["network", 0, "Could not reach the service"],
  ] as const)("explains a %s failure in plain words", async (kind, status, words) => {
    classify.mockRejectedValue(failing(kind, status));
    render(<ShotCard file={shot()} />);
    expect(await screen.findByRole("alert")).toHaveTextContent(words);
  });

  it("counts down Retry-After on 429 before offering a retry, and the retry works", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    classify.mockRejectedValueOnce(failing("rate_limited", 429, 3)).mockResolvedValueOnce(answer());
    render(<ShotCard file={shot()} />);
    expect(await screen.findByText("You can try again in 3 s.")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Try again" })).not.toBeInTheDocument();
    await act(async () => {
      vi.advanceTimersByTime(3500);
    });
    const retry = await screen.findByRole("button", { name: "Try again" });
    await userEvent.click(retry);
    expect(await screen.findByTestId("verdict")).toHaveTextContent("Elden Ring");
    expect(classify).toHaveBeenCalledTimes(2);
  });

  it("asks whether its answer was right, sends the vote with its own file, and tells the vote on", async () => {
    classify.mockResolvedValue(answer({ sha256: "d".repeat(64) }));
    sendFeedback.mockResolvedValue({
      sha256: "d".repeat(64),
      verdict: "right",
      label: "elden_ring",
      shared: false,
      model: { name: "fromsoft", version: "1.0", digest: "5d41402abc4b" },
      updated: false,
    });
    const told = vi.fn();
    const file = shot();
    render(<ShotCard file={file} onFeedback={told} />);
    await userEvent.click(await screen.findByRole("button", { name: "Right" }));
    expect(sendFeedback).toHaveBeenCalledWith(file, "d".repeat(64), { verdict: "right", label: null, share: false });
    expect(await screen.findByTestId("feedback-thanks")).toHaveTextContent("Thank you");
    expect(told).toHaveBeenCalledWith(expect.objectContaining({ sha256: "d".repeat(64) }), expect.objectContaining({ verdict: "right", name: "Elden Ring" }));
  });

  it("asks nothing of a file that got no answer", async () => {
    classify.mockRejectedValue(failing("unavailable", 503));
    render(<ShotCard file={shot()} />);
    await screen.findByRole("alert");
    expect(screen.queryByTestId("feedback")).not.toBeInTheDocument();
  });

  it("overlays the heatmap when asked, fetching it once", async () => {
    classify.mockResolvedValue(answer());
    explain.mockResolvedValue({ label: "elden_ring", name: "Elden Ring", rows: 2, cols: 2, heatmap: [[0, 1], [0.5, 0.2]] });
    render(<ShotCard file={shot()} />);
    const toggle = await screen.findByRole("checkbox", { name: "Where the model looked" });
    await userEvent.click(toggle);
    await waitFor(() => expect(screen.getByTestId("heatmap")).toBeInTheDocument());
    await userEvent.click(toggle);
    expect(screen.queryByTestId("heatmap")).not.toBeInTheDocument();
    await userEvent.click(toggle);
    expect(explain).toHaveBeenCalledTimes(1);
  });
});
