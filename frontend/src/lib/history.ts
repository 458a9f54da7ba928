/** The visitor's last results, kept in this browser's storage only (never sent anywhere): a small
 * thumbnail, the verdict, its confidence and when. Images stay on the visitor's machine; the gateway
 * keeps none. */
import { useCallback, useState } from "react";
import type { Classification } from "../api/types";

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

/** The history, newest first, and how to add to it, note a share link made of an entry, and clear it;
 * each change is stored at once. */
export function useHistory() {
  const [entries, setEntries] = useState<HistoryEntry[]>(stored);
  const remember = useCallback((result: Classification, picture: string | null) => {
    setEntries((current) => {
      const entry: HistoryEntry = {
        sha256: result.sha256,
        label: result.label,
        name: result.name,
        confidence: result.confidence,
        at: new Date().toISOString(),
        thumbnail: picture,
        share: current.find((e) => e.sha256 === result.sha256)?.share, // a link made before still lives
      };
      const next = [entry, ...current.filter((e) => e.sha256 !== result.sha256)].slice(0, HISTORY_SIZE);
      store(next);
      return next;
    });
  }, []);
  const shared = useCallback((sha256: string, id: string) => {
    setEntries((current) => {
      const next = current.map((entry) => (entry.sha256 === sha256 ? { ...entry, share: id } : entry));
      store(next);
      return next;
    });
  }, []);
  const clear = useCallback(() => {
    store([]);
    setEntries([]);
  }, []);
  return { entries, remember, shared, clear };
}
