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
  provenance: Provenance;
  unknown_threshold: number | null;
  arch: string | null;
  /** The stack's one upload limit (MAX_UPLOAD_BYTES): nginx, the gateway, TorchServe and the handler. */
  max_upload_bytes: number;
}

/** What the served model learned from (written by `python -m training export`; absent fields are null). */
export interface Provenance {
  run?: string;
  data_root?: string | null;
  /** "synthetic": every training image came from `training synthesize`; "mixed": some did; "real": none. */
  data_kind?: "synthetic" | "mixed" | "real" | null;
  images?: number | null;
  synthetic_images?: number | null;
  epochs?: number | null;
  test_accuracy?: number | null;
  test_macro_f1?: number | null;
  exported?: string;
}
