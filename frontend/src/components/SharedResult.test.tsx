import { render, screen } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/errors";
import type { Classification } from "../api/types";
import { SharedResult } from "./SharedResult";

vi.mock("../api/client", () => ({ sharedResult: vi.fn() }));
const client = await import("../api/client");
const sharedResult = vi.mocked(client.sharedResult);

const sha = "a".repeat(64);
const answer: Classification = {
  label: "elden_ring",
  name: "Elden Ring",
  confidence: 0.93,
  top_k: [{ label: "elden_ring", name: "Elden Ring", probability: 0.93 }],
  model: { name: "fromsoft", version: "1.0" },
  sha256: sha,
  cached: true,
  timings_ms: { total: 1 },
};

beforeEach(() => {
  sharedResult.mockReset();
});

describe("a share link's page", () => {
  it("shows the answer the gateway keeps for the image, with its own share link", async () => {
    sharedResult.mockResolvedValue(answer);
    render(<SharedResult sha256={sha} history={[]} />);
    expect(await screen.findByTestId("verdict")).toHaveTextContent("Elden Ring");
    expect(sharedResult).toHaveBeenCalledWith(sha);
    expect(screen.getByRole("button", { name: "Copy link" })).toBeInTheDocument();
    expect(screen.queryByRole("img")).not.toBeInTheDocument(); // images are never stored
  });

  it("shows the visitor's own thumbnail when the history has one", async () => {
    sharedResult.mockResolvedValue(answer);
    const entry = { ...answer, at: "2026-12-01T10:00:00Z", thumbnail: "data:image/jpeg;base64,AAAA" };
    render(<SharedResult sha256={sha} history={[entry]} />);
    expect(await screen.findByRole("img")).toHaveAttribute("src", entry.thumbnail);
  });

  it("says plainly when the answer is no longer kept", async () => {
    sharedResult.mockRejectedValue(new ApiError("unknown", "no answer", 404, "not_found", null));
    render(<SharedResult sha256={sha} history={[]} />);
    expect(await screen.findByTestId("shared-gone")).toHaveTextContent("no longer kept");
  });
});
