/** Shapes of the gateway's answers (see docs/api.md). */

export interface Ranked {
  label: string;
  name: string;
  probability: number;
}

/** A verdict, as a classification and a share link both give it. */
export interface Answer {
  label: string; // a game's label, or "unknown"
  name: string; // display name, or "Not recognised"
  confidence: number;
  top_k: Ranked[];
  model: { name: string; version: string };
}

export interface Classification extends Answer {
  sha256: string;
  cached: boolean;
  timings_ms: Record<string, number>;
}

/** What a share link shows (`GET /shares/{id}`): the answer as its sharer saw it, without the image's
 * hash, until the cached answer it copies expires. */
export interface SharedAnswer extends Answer {
  expires_at: string; // ISO 8601, UTC
}

/** A new share (`POST /shares`): its unguessable id and the page that shows it, relative to the site. */
export interface ShareCreated {
  id: string;
  url: string; // /s/<id>
  expires_at: string;
}

/** A visitor's verdict on an answer (`POST /feedback`). */
export type FeedbackVerdict = "right" | "wrong" | "not_a_game";

/** What the page sends with the screenshot: the verdict, the game it really is (for "wrong"), and
 * whether the visitor agreed to let the service keep the screenshot. */
export interface FeedbackVote {
  verdict: FeedbackVerdict;
  label: string | null;
  share: boolean;
}

/** The vote as the gateway recorded it: `label` is the game it names (the model's, for "right"),
 * `shared` whether the screenshot is kept, `updated` whether it replaced this visitor's earlier vote. */
export interface FeedbackRecord {
  sha256: string;
  verdict: FeedbackVerdict;
  label: string | null;
  shared: boolean;
  model: { name: string; version: string; digest: string };
  updated: boolean;
}

/** One file's refusal inside a batch's answer: the one error shape, in that file's place. */
export interface Refusal {
  error: { code: string; message: string; request_id: string | null };
}

export interface BatchAnswer {
  /** One per file, in the order sent. */
  results: (Classification | Refusal)[];
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
    /** A version answering in the default's shadow for a share of the images, and how far it agrees. */
    canary?: Canary | null;
  }[];
  labels: { label: string; name: string }[];
  provenance: Provenance;
  unknown_threshold: number | null;
  arch: string | null;
  /** The stack's one upload limit (MAX_UPLOAD_BYTES): nginx, the gateway, TorchServe and the handler. */
  max_upload_bytes: number;
  /** Files in one batch at most (BATCH_MAX_FILES). */
  batch_max_files: number;
  /** A batch's request body at most, multipart framing included. */
  batch_max_bytes: number;
  /** The served model's card (`training export`); null for an archive without one. */
  model_card?: ModelCard | null;
}

export interface Canary {
  version: string;
  share: number;
  /** Every replica's comparisons so far; null while the gateway cannot read them. */
  figures: {
    comparisons: number;
    agreement: number | null;
    errors: number;
    skipped: number;
    default_unknown_share: number | null;
    candidate_unknown_share: number | null;
  } | null;
}

export interface CardFigures {
  accuracy: number;
  macro_f1: number;
  not_recognised_rate: number;
  named_correctly: number;
}

/** What `training.model_card` writes: every figure from the run's own reports. */
export interface ModelCard {
  name: string;
  version: string;
  arch: string;
  form: string | null;
  intended_use: string;
  data: { kind: string | null; source: string | null; images: number | null; synthetic_images: number | null };
  test: {
    images: number;
    accuracy: number;
    macro_f1: number;
    per_class: Record<string, { name: string; precision: number; recall: number; f1: number; support: number }>;
  };
  calibration: { temperature: number; ece_before: number; ece_after: number };
  unknown: { threshold: number; coverage: number; accuracy_above: number };
  external: (CardFigures & { set: string; images: number; borders: { cut: number; figures: Record<string, CardFigures> } | null }) | null;
  limitations: string[];
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
