/** The visitor's last results, kept in this browser's storage only (never sent anywhere): a small
 * thumbnail, the verdict, its confidence and when, the share link made of it and the feedback sent on
 * it. The page keeps no image here; a screenshot leaves the machine to be classified, and is kept by the
 * service only when its visitor ticks "share this screenshot" with a vote. */
import { useCallback, useState } from "react";
import type { Classification } from "../api/types";
import type { SentFeedback } from "./feedback";

export const HISTORY_KEY = "fromsoft-lens:history";
export const HISTORY_SIZE = 50;
const THUMBNAIL_WIDTH = 96;

export interface HistoryEntry {
  sha256: string;
  label: string;
  name: string;
  confidence: number;
  at: string; // ISO time
  thumbnail: string | null; // a small JPEG data URL
  share?: string; // the id of the share link made of it here, if one was
  feedback?: SentFeedback; // what this browser last said of its answer, if anything
}

function stored(): HistoryEntry[] {
  try {
    const entries: unknown = JSON.parse(localStorage.getItem(HISTORY_KEY) ?? "[]");
    return Array.isArray(entries) ? (entries as HistoryEntry[]).slice(0, HISTORY_SIZE) : [];
  } catch {
    return []; // storage unreadable or not ours: start again
  }
}

function store(entries: HistoryEntry[]): void {
  try {
    localStorage.setItem(HISTORY_KEY, JSON.stringify(entries));
  } catch {
    // full or forbidden (private browsing): the history lives as long as the page
  }
}

/** A thumbnail of `file` as a data URL, or null where the browser cannot draw one. */
export async function thumbnail(file: File): Promise<string | null> {
  if (typeof createImageBitmap !== "function") return null;
  try {
    const bitmap = await createImageBitmap(file);
    const canvas = document.createElement("canvas");
    canvas.width = THUMBNAIL_WIDTH;
    canvas.height = Math.max(1, Math.round((bitmap.height * THUMBNAIL_WIDTH) / bitmap.width));
    const context = canvas.getContext("2d");
    if (!context) return null;
    context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    return canvas.toDataURL("image/jpeg", 0.7);
  } catch {
    return null;
  }
}

/** The history, newest first, and how to add to it, note an entry's thumbnail once drawn, a share link
 * made of it or the feedback sent on it, and clear it; each change is stored at once. */
export function useHistory() {
  const [entries, setEntries] = useState<HistoryEntry[]>(stored);
  const remember = useCallback((result: Classification, picture: string | null) => {
    setEntries((current) => {
      const before = current.find((e) => e.sha256 === result.sha256);
      const entry: HistoryEntry = {
        sha256: result.sha256,
        label: result.label,
        name: result.name,
        confidence: result.confidence,
        at: new Date().toISOString(),
        thumbnail: picture,
        share: before?.share, // a link made before still lives
        feedback: before?.feedback, // and the gateway still holds the vote sent before
      };
      const next = [entry, ...current.filter((e) => e.sha256 !== result.sha256)].slice(0, HISTORY_SIZE);
      store(next);
      return next;
    });
  }, []);
  const noted = useCallback((sha256: string, note: Partial<HistoryEntry>) => {
    setEntries((current) => {
      const next = current.map((entry) => (entry.sha256 === sha256 ? { ...entry, ...note } : entry));
      store(next);
      return next;
    });
  }, []);
  const shared = useCallback((sha256: string, id: string) => noted(sha256, { share: id }), [noted]);
  const voted = useCallback((sha256: string, feedback: SentFeedback) => noted(sha256, { feedback }), [noted]);
  const pictured = useCallback((sha256: string, picture: string) => noted(sha256, { thumbnail: picture }), [noted]);
  const clear = useCallback(() => {
    store([]);
    setEntries([]);
  }, []);
  return { entries, remember, pictured, shared, voted, clear };
}
