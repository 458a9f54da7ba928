import { act, renderHook } from "@testing-library/react";
import { beforeEach, describe, expect, it } from "vitest";
import type { Classification } from "../api/types";
import { HISTORY_KEY, HISTORY_SIZE, useHistory } from "./history";

const answer = (sha256: string, confidence = 0.9): Classification => ({
  label: "sekiro",
  name: "Sekiro: Shadows Die Twice",
  confidence,
  top_k: [],
  model: { name: "fromsoft", version: "1.0" },
  sha256,
  cached: false,
  timings_ms: {},
});

const stored = () => JSON.parse(localStorage.getItem(HISTORY_KEY) ?? "null");

beforeEach(() => localStorage.clear());

describe("the history", () => {
  it("holds the last 50, newest first, an image once", () => {
    const { result } = renderHook(() => useHistory());
    act(() => {
      for (let i = 0; i < HISTORY_SIZE + 2; i += 1) result.current.remember(answer(`sha-${i}`), null);
      result.current.remember(answer("sha-10", 0.5), "data:image/jpeg;base64,AAAA");
    });
    expect(result.current.entries).toHaveLength(HISTORY_SIZE);
    expect(result.current.entries.map((e) => e.sha256).slice(0, 2)).toEqual(["sha-10", `sha-${HISTORY_SIZE + 1}`]);
    expect(result.current.entries.filter((e) => e.sha256 === "sha-10")).toEqual([
      expect.objectContaining({ confidence: 0.5, thumbnail: "data:image/jpeg;base64,AAAA" }),
    ]);
    expect(stored()).toEqual(result.current.entries);
  });

  it("notes the share link made of an entry, and keeps it when the image is classified again", () => {
    const { result } = renderHook(() => useHistory());
    act(() => {
      result.current.remember(answer("sha-1"), null);
      result.current.remember(answer("sha-2"), null);
      result.current.shared("sha-1", "Qx7_b-3kLm9Zp0aTw2Yc4d");
      result.current.remember(answer("sha-1", 0.8), null);
    });
    expect(result.current.entries.map((e) => [e.sha256, e.share])).toEqual([
      ["sha-1", "Qx7_b-3kLm9Zp0aTw2Yc4d"],
      ["sha-2", undefined],
    ]);
    expect(stored()[0].share).toBe("Qx7_b-3kLm9Zp0aTw2Yc4d");
  });

  it("notes the feedback sent on an entry and its thumbnail once drawn, and keeps both when classified again", () => {
    const { result } = renderHook(() => useHistory());
    const sent = { verdict: "wrong" as const, label: "elden_ring", name: "Elden Ring", shared: true, at: "2026-12-06T10:00:00Z" };
    act(() => {
      result.current.remember(answer("sha-1"), null);
      result.current.voted("sha-1", sent);
      result.current.pictured("sha-1", "data:image/jpeg;base64,AAAA");
      result.current.voted("sha-unknown", sent); // nothing to note it on: nothing changes
    });
    expect(result.current.entries).toEqual([expect.objectContaining({ sha256: "sha-1", feedback: sent, thumbnail: "data:image/jpeg;base64,AAAA" })]);
    act(() => result.current.remember(answer("sha-1", 0.7), null));
    expect(result.current.entries[0].feedback).toEqual(sent);
    expect(stored()[0].feedback).toEqual(sent);
  });

  it("starts from what the browser kept, and from nothing when that is not ours", () => {
    localStorage.setItem(HISTORY_KEY, JSON.stringify([{ ...answer("kept"), at: "2026-12-01T10:00:00Z", thumbnail: null }]));
    expect(renderHook(() => useHistory()).result.current.entries.map((e) => e.sha256)).toEqual(["kept"]);
    localStorage.setItem(HISTORY_KEY, "{not json");
    expect(renderHook(() => useHistory()).result.current.entries).toEqual([]);
  });
});
