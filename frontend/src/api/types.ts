/** Shapes of the gateway's answers (see the README's API section). */

export interface Ranked {
  label: string;
  name: string;
  probability: number;
}

export interface Classification {
  label: string; // a game's label, or "unknown"
  name: string; // display name, or "Not recognised"
  confidence: number;
  top_k: Ranked[];
  model: { name: string; version: string };
  sha256: string;
  cached: boolean;
  timings_ms: Record<string, number>;
}

export interface Explanation {
  label: string;
  name: string;
  rows: number;
  cols: number;
  heatmap: number[][];
}

export interface ModelsView {
  models: {
    name: string;
    default_version: string;
    versions: { version: string; default: boolean; workers: { id: string; status: string }[] }[];
  }[];
  labels: { label: string; name: string }[];
  provenance: Record<string, string | number | null>;
  unknown_threshold: number | null;
  arch: string | null;
}
